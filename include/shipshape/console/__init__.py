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
    pages/        one file per page
"""
