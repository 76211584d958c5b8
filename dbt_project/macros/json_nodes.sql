{#-
    The list of objects in a JSON value that may be a plain array or a GraphQL connection
    (`{"nodes": [...]}` or `{"edges": [{"node": ...}]}`): always a jsonb array, [] when missing.
    Shopify and ShipHero payloads use both forms; staging unnests either with
    `jsonb_array_elements(json_nodes(...)) with ordinality`.
-#}
{% macro json_nodes(expr) -%}
    (case jsonb_typeof({{ expr }})
        when 'array' then {{ expr }}
        when 'object' then coalesce({{ expr }} -> 'nodes', jsonb_path_query_array({{ expr }}, '$.edges[*].node'))
        else '[]'::jsonb
    end)
{%- endmacro %}
