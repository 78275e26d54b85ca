{#- Typed values from the tracker's strings (element.dataset holds strings only). -#}

{#- A VND amount sent as text ("3980000", "3.980.000", "3,980,000", "19.5"); null when empty or not a number. -#}
{% macro vnd_amount(text) -%}
    case
        when {{ regex_matches(text, "'^\\s*\\d{1,3}([.,])\\d{3}(\\1\\d{3})*\\s*$'") }}
            then cast({{ regex_replace_all(text, "'[^0-9]'", "''") }} as {{ type_decimal() }})
        when {{ regex_matches(text, "'^\\s*\\d{1,15}(\\.\\d{1,6})?\\s*$'") }} then cast(trim({{ text }}) as {{ type_decimal() }})
    end
{%- endmacro %}

{#- A whole number sent as text ("1"); null when empty or not one. -#}
{% macro whole_number(text) -%}
    case when {{ regex_matches(text, "'^\\s*\\d{1,9}\\s*$'") }} then cast(trim({{ text }}) as integer) end
{%- endmacro %}

{#- "true"/"false" (any case) as a boolean; null otherwise. -#}
{% macro text_boolean(text) -%}
    case lower(trim({{ text }})) when 'true' then true when 'false' then false end
{%- endmacro %}

{#- Text with surrounding blanks removed; null when nothing is left (the storefront sends "" for ids it lacks). -#}
{% macro text_or_null(text) -%}
    nullif(trim({{ text }}), '')
{%- endmacro %}

{#-
    A grouping key for text the shop types by hand (category titles such as "Bàn phím"): Unicode NFC, lower case,
    blanks trimmed and collapsed. Hand-written because the warehouse's lower() changes ASCII letters only in the C
    locale and the embedded PostgreSQL has no ICU; the letters below (Latin-1, Latin Extended-A/B, Vietnamese,
    Greek, Cyrillic) are lowered by translate(), their lower-case twins computed by Jinja's Unicode-aware lower.
-#}
{% macro text_key(text) -%}{{ return(adapter.dispatch('text_key')(text)) }}{%- endmacro %}

{#- Spark: lower() is Unicode-aware (Java); input is taken as composed (NFC), which browsers send. -#}
{% macro spark__text_key(text) -%}
    nullif(regexp_replace(lower({{ text }}), '\s+', ' '), '')
{%- endmacro %}

{#- Redshift: LOWER handles UTF-8 letters; there is no normalize. -#}
{% macro redshift__text_key(text) -%}
    nullif(regexp_replace(lower({{ text }}), '[[:space:]]+', ' '), '')
{%- endmacro %}

{% macro default__text_key(text) -%}
    {%- set upper = "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩƬƮƯƱƲƳƵƷƸƼǄǇǊǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǱǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸỺỼỾΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ" -%}
    nullif(
        regexp_replace(
            lower(translate(normalize({{ text }}, nfc), '{{ upper }}', '{{ upper | lower }}')), '\s+', ' ', 'g'
        ),
        ''
    )
{%- endmacro %}
