# The old R Shiny dashboard's data access, as the app does it: DBI + RPostgreSQL, a user and password over TCP,
# the default search_path, the query text with $1, $2 (and $3) bound as parameters.
#
# Environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (the five values the dashboard's owner edits),
# QUERY (the exact SQL text), FROM and UNTIL ($1 and $2), LOGIN_STATE ($3, only when set and not empty).
# Prints one line of JSON on stdout; on any failure prints the error on stderr and exits with status 1.
#
# Run by tests/integration/test_old_dashboard_r.py with Debian's r-base-core, r-cran-shiny, r-cran-dbi and
# r-cran-rpostgresql.

main <- function() {
  suppressPackageStartupMessages({
    library(shiny) # the app is a Shiny app: the runtime must be there
    library(DBI)
    library(RPostgreSQL)
  })

  required <- function(name) {
    value <- Sys.getenv(name, unset = NA)
    if (is.na(value) || value == "") stop("the environment variable ", name, " is not set")
    value
  }

  con <- dbConnect(
    PostgreSQL(),
    host = required("PGHOST"),
    port = as.integer(required("PGPORT")),
    dbname = required("PGDATABASE"),
    user = required("PGUSER"),
    password = required("PGPASSWORD")
  )
  on.exit(dbDisconnect(con), add = TRUE)

  params <- list(required("FROM"), required("UNTIL"))
  login_state <- Sys.getenv("LOGIN_STATE")
  if (login_state != "") params <- c(params, list(login_state))

  # RPostgreSQL's dbGetQuery does not raise on an SQL error: it prints the error, warns and returns NULL.
  events <- dbGetQuery(con, required("QUERY"), params = params)
  if (!is.data.frame(events)) stop("the query failed (dbGetQuery returned NULL)")

  ids <- events$product_id[!is.na(events$product_id)]
  names_ <- events$product_name[!is.na(events$product_name)]
  counts <- function(x) { # a JSON object, even when empty
    n <- table(x, dnn = NULL)
    structure(as.list(as.integer(n)), names = as.character(names(n)))
  }
  # event_timestamp arrives as POSIXct (the right instant, shown in R's local time zone); an empty result has it
  # as character.
  utc <- function(x) if (length(x) == 0) NA else format(x, "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")
  stamps <- events$event_timestamp
  result <- list(
    rows = nrow(events),
    columns = as.list(vapply(events, function(column) class(column)[[1]], "")),
    by_event_name = counts(events$event_name),
    by_login_state = counts(events$user_login_state),
    product_ids = I(sort(unique(ids))), # I(): an array, even of one
    product_names = I(sort(unique(names_))),
    product_price_sum = sum(events$product_price, na.rm = TRUE),
    first_event = utc(if (length(stamps) > 0) min(stamps)),
    last_event = utc(if (length(stamps) > 0) max(stamps)),
    r = R.version.string,
    rpostgresql = as.character(packageVersion("RPostgreSQL")),
    shiny = as.character(packageVersion("shiny"))
  )
  # jsonlite comes with shiny (it imports it); digits = NA: every significant digit, never 1e+07.
  # useBytes: UTF-8 as it is, whatever the locale (cat() in a C locale would write <U+00E0>).
  writeLines(jsonlite::toJSON(result, auto_unbox = TRUE, digits = NA, na = "null"), useBytes = TRUE)
}

status <- tryCatch(
  {
    main()
    0L
  },
  error = function(e) {
    message("old_dashboard.R: ", conditionMessage(e))
    1L
  }
)
quit(save = "no", status = status)
