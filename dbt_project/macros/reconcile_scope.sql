{#-
    Incremental reconciliation: the intermediate tables recompute only the keys a run can have changed.

    int_reconcile_changes turns what staging restaged (the change log, macros/incremental_staging.sql)
    into the keys to recompute at each grain, one batch per run:
      shopify_order    Shopify orders (shopify_order_id)
      order_ref        normalised references that name an order (int_order_refs)
      payment          gateway payments, 'stripe:<PaymentIntent id>' or 'paypal:<capture id>'
      shiphero_order   ShipHero orders
      shipment         ShipHero shipments
      tracking_number  carrier tracking numbers
      all              everything (a full build upstream, changed settings or seeds, a first run)

    Every other intermediate model is an incremental table of one grain, config meta
    `scope: [grain, key expression(, expansion)]` (grain `order`: Shopify orders, see scope_keys), run
    with these hooks:
      pre-hook   the keys of every batch it has not taken yet go to ops.dbt_model_scope (a null key:
                 all of them), and its rows of those keys are deleted;
      model      recomputes those keys only ({{ in_scope('expression') }} in its where clauses);
      post-hook  records the last batch it took (ops.dbt_incremental_state.change_batch).
    All three are one transaction. A model that fails keeps its batch mark, so its next run takes the
    batches it missed as well; int_reconcile_changes prunes a batch once every scoped model of the project
    has taken it. Without
    is_incremental() (first run, --full-refresh, unit tests) a model computes every key.
-#}

{#- the batch this model's transaction takes up to -#}
{% macro _batch_setting() -%}
    'shipshape.batch_{{ this.identifier }}'
{%- endmacro %}

{#- refs a scoped model of `grain` needs for its hooks, rendered into its body (hooks' refs are not in the
    DAG, and config cannot be read while dbt parses) -#}
{% macro scope_dependencies(grain) -%}
    {#- a unit test renders the model with its given inputs only, and the hooks never run there -#}
    {%- if execute and model.resource_type == 'unit_test' -%}{{ return('') }}{%- endif %}
    -- depends_on: {{ ref('int_reconcile_changes') }}
    {%- if grain == 'order' %}
    -- depends_on: {{ ref('int_payment_links') }}
    -- depends_on: {{ ref('int_shiphero_order_links') }}
    {%- endif %}
{%- endmacro %}

{#- in a model's where clause: the row's key is one this run recomputes -#}
{% macro in_scope(expr) -%}
    {%- if is_incremental() -%}
        (
            ({{ expr }})::text in (
                select scope.key from {{ model_scope_relation() }} as scope
                where scope.model = '{{ this.identifier }}'
            )
            or exists (
                select from {{ model_scope_relation() }} as scope
                where scope.model = '{{ this.identifier }}' and scope.key is null
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- post-hook of a table built whole: an index on its scope key, which the data tests of the incremental
    runs after it look their rows up in (macros/test_scope.sql; the models' own scope filters keep their
    hashed subplans, which no index serves), and its statistics (the models downstream join it, and a
    fresh table has none: the planner would guess a handful of rows and pick nested loops). An
    incremental run changes ~1 % of the rows: the index keeps up, and so do autovacuum's statistics. -#}
{% macro index_scope_key(expr) -%}
    create index on {{ this }} ((({{ expr }})::text));
    analyze {{ this }}
{%- endmacro %}

{#- the keys of this model's grain in the batches it has not taken, as rows (model, key); one null key
    when everything must be recomputed -#}
{% macro scope_keys(grain, expand=none) -%}
    {%- set changes = ref('int_reconcile_changes') -%}
    with

    batches as (
        select
            changes.grain,
            changes.entity_key
        from {{ changes }} as changes
        where
            changes.batch > coalesce(
                (
                    select state.change_batch from {{ incremental_state_relation() }} as state
                    where state.model = '{{ this.identifier }}'
                ),
                -1
            )
            and changes.batch <= current_setting({{ _batch_setting() }})::bigint
    ),

    everything as (
        select from batches
        where batches.grain = 'all'
        union all
        -- a table built before its batches were recorded (or whose batches were pruned): no way to know
        select
        where
            not exists (
                select from {{ incremental_state_relation() }} as state
                where state.model = '{{ this.identifier }}' and state.change_batch is not null
            )
    ),

    keys as (
        {%- if grain == 'order' %}
            select batches.entity_key from batches
            where batches.grain = 'shopify_order'
            union
            -- the orders the changed payments and ShipHero orders link to now (int_reconcile_changes
            -- added the ones they linked to before)
            select links.shopify_order_id::text
            from {{ ref('int_payment_links') }} as links
            where
                links.gateway || ':' || links.payment_id in (
                    select batches.entity_key from batches
                    where batches.grain = 'payment'
                )
                and links.shopify_order_id is not null
            union
            select links.shopify_order_id::text
            from {{ ref('int_shiphero_order_links') }} as links
            where
                links.shiphero_order_id in (
                    select batches.entity_key from batches
                    where batches.grain = 'shiphero_order'
                )
                and links.shopify_order_id is not null
        {%- else %}
            select batches.entity_key from batches
            where batches.grain = '{{ grain }}'
        {%- endif %}
        {%- if expand == 'shiphero_claims' %}
            union
            {{ scope_expand_shiphero_claims(
                "(select batches.entity_key from batches where batches.grain = 'shiphero_order')") }}
        {%- endif %}
    )

    select '{{ this.identifier }}', null::text
    where exists (select from everything)
    union all
    select '{{ this.identifier }}', keys.entity_key
    from keys
    where keys.entity_key is not null and not exists (select from everything)
{%- endmacro %}

{#- pre-hook of every intermediate model (a no-op for models without meta `scope`) -#}
{% macro scope_begin() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set scope = config.get('meta', {}).get('scope') -%}
    {%- if not scope or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif -%}
    select set_config(
        {{ _batch_setting() }},
        coalesce((select max(batch) from {{ ref('int_reconcile_changes') }}), 0)::text,
        true
    );
    delete from {{ model_scope_relation() }} where model = '{{ this.identifier }}';
    {% if is_incremental() %}
        insert into {{ model_scope_relation() }} (model, key)
        {{ scope_keys(scope[0], scope[2] if scope | length > 2 else none) }};
        delete from {{ this }}
        where {{ in_scope(scope[1]) }};
    {% else %}
        insert into {{ model_scope_relation() }} (model, key) values ('{{ this.identifier }}', null);
    {% endif %}
{% endmacro %}

{#- post-hook: the batches this model has taken -#}
{% macro scope_end() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set scope = config.get('meta', {}).get('scope') -%}
    {%- if not scope or model.config.materialized != 'incremental' -%}{{ return('') }}{%- endif %}
    insert into {{ incremental_state_relation() }} (model, as_of, change_batch)
    values ('{{ this.identifier }}', {{ as_of() }}, current_setting({{ _batch_setting() }})::bigint)
    on conflict (model) do update set as_of = excluded.as_of, change_batch = excluded.change_batch;
    {% if not is_incremental() %}{{ index_scope_key(scope[1]) }}{% endif %}
{% endmacro %}

{#- int_shiphero_order_links ranks the ShipHero orders that claim one Shopify order against each other,
    so when a ShipHero order changes, every other claim on the orders it claimed before or may claim now
    is ranked again. "May claim now": any order its partner_order_id or order_number names (a superset
    of the one it links to). -#}
{% macro scope_expand_shiphero_claims(changed) -%}
    select claims.shiphero_order_id
    from {{ this }} as claims
    where
        claims.shopify_order_id in (
            select claimed_before.shopify_order_id from {{ this }} as claimed_before
            where claimed_before.shiphero_order_id in {{ changed }}
            union
            select refs.shopify_order_id
            from {{ ref('stg_shiphero__orders') }} as shiphero_orders
            inner join {{ ref('int_order_refs') }} as refs
                on shiphero_orders.partner_order_ref = refs.order_ref
            where shiphero_orders.shiphero_order_id in {{ changed }}
            union
            select refs.shopify_order_id
            from {{ ref('stg_shiphero__orders') }} as shiphero_orders
            inner join {{ ref('int_order_refs') }} as refs
                on shiphero_orders.order_number_ref = refs.order_ref
            where shiphero_orders.shiphero_order_id in {{ changed }}
        )
{%- endmacro %}

{#- what int_reconcile_changes compares between runs: a change of a tolerance or an editable seed
    changes every order's judgement -#}
{% macro settings_fingerprint() -%}
    md5(
        concat_ws(
            '|',
            {%- for name in ['amount_tolerance', 'missing_in_3pl_grace_hours', 'ship_sla_hours',
                             'inventory_tolerance', 'ship_on_authorization', 'paypal_publish_lag_hours'] %}
                '{{ name }}={{ var(name) }}',
            {%- endfor %}
            (
                select md5(coalesce(string_agg(seed::text, '|' order by seed::text), ''))
                from {{ ref('shipping_method_map') }} as seed
            ),
            (
                select md5(coalesce(string_agg(seed::text, '|' order by seed::text), ''))
                from {{ ref('carrier_map') }} as seed
            ),
            (
                select md5(coalesce(string_agg(seed::text, '|' order by seed::text), ''))
                from {{ ref('mismatch_codes') }} as seed
            )
        )
    )
{%- endmacro %}

{#- int_reconcile_changes's hooks: its batch number and the change log mark; prune the batches every
    model has taken; then consume the log and remember the as-of and settings judged at -#}
{% macro reconcile_changes_begin() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    select set_config(
        'shipshape.change_log_mark',
        coalesce((select max(log_id) from {{ change_log_relation() }}), 0)::text,
        true
    );
    select set_config('shipshape.change_batch', nextval('{{ change_batches_sequence() }}')::text, true);
    {% if is_incremental() %}
        {#- the project's scoped models (a model removed from the project must not hold batches back) -#}
        {%- set consumers = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model'
                and node.config.get('meta', {}).get('scope') -%}
            {%- do consumers.append("'" ~ node.name ~ "'") -%}
        {%- endfor %}
        delete from {{ this }}
        where
            batch <= (
                select min(state.change_batch) from {{ incremental_state_relation() }} as state
                where state.change_batch is not null and state.model in ({{ consumers | join(', ') }})
            );
    {% endif %}
{% endmacro %}

{% macro reconcile_changes_end() %}
    {%- if not execute -%}{{ return('') }}{%- endif %}
    delete from {{ change_log_relation() }}
    where log_id <= current_setting('shipshape.change_log_mark')::bigint;
    insert into {{ incremental_state_relation() }} (model, as_of, fingerprint)
    values ('{{ this.identifier }}', {{ as_of() }}, {{ settings_fingerprint() }})
    on conflict (model) do update set as_of = excluded.as_of, fingerprint = excluded.fingerprint;
{% endmacro %}
