"""The mismatch console: a Streamlit app over the marts and the ops tables (issue 17).

`shipshape console` (and `make up`) runs it. It reads the warehouse as the read-only role
`shipshape_console` (`shipshape.warehouse.CONSOLE_ROLE`) with parametrised queries (`queries.py`), caches
what it read for a short time, and shows on every page the as-of of the marts it read. It listens on
127.0.0.1 unless told otherwise; on any other address it asks for a login (`settings.py`).

    settings.py   where it listens, how it connects, the login, the cache TTL
    db.py         connections as the console's role, and the one write (a quarantine acknowledgement)
    queries.py    every query a page runs, one function each
    server.py     the Streamlit process (argv, environment) for the CLI and `shipshape up`
    app.py        the entry point: login, navigation
    ui.py         what every page shares: cached reads, the as-of banner
    views/        one file per page (not pages/: Streamlit would serve those directly, without the login)
"""

# The pages: (file under this folder, title, icon, URL path). The first is the default.
PAGES = [
    ("views/overview.py", "Overview", ":material/dashboard:", "overview"),
    ("views/orders.py", "Orders", ":material/receipt_long:", "orders"),
    ("views/corrections.py", "Corrections", ":material/build:", "corrections"),
    ("views/stages.py", "Processing vs fulfillment", ":material/local_shipping:", "stages"),
    ("views/quality.py", "Data quality", ":material/fact_check:", "quality"),
    ("views/inventory.py", "Inventory and payments", ":material/inventory_2:", "inventory"),
]

# What a browser waits for before it calls a page rendered (the benchmark, the browser test): the page's end
# marker (ui.end) is in; Streamlit no longer runs the script, loads a component or shows a stale element;
# every chart is drawn. Streamlit's own "running" indicator shows only after a delay, so it is not enough.
END_MARKER = "console-page-end"
RENDERED_JS = (
    f"() => document.getElementById('{END_MARKER}')"
    " && !document.querySelector('[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"], [data-stale=\"true\"]')"
    " && [...document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]')].every(c => c.querySelector('canvas, svg'))"
)
