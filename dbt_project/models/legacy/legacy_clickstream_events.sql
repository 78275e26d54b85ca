{#-
    public.clickstream_events: the previous warehouse's table name, unqualified, for the old R Shiny dashboard,
    which runs one query on `clickstream_events` with the default search_path ("$user", public). A view over
    marts.clickstream_events (a view runs with its owner's rights: readers need no grant on staging).
-#}
{{ config(alias='clickstream_events') }}

select * from {{ ref('clickstream_events') }}
