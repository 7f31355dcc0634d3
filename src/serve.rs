//! The what-if service: tonight's batch loaded once, answering "what does
//! this order do to the account's exposure fee?" over HTTP (`exfee serve`;
//! routes and rules in `docs/serve.md`, OpenAPI in `docs/openapi.yaml`).
//!
//! Built on tokio + axum. The night is held behind an [`ArcSwap`]: a request
//! takes the night current when it starts and keeps it to the end, so a
//! reload swaps in the next night without failing any request in flight.
//! Every route but `/healthz` needs the bearer token. Engine work runs on
//! the blocking pool, at most `workers` at once, each request under a
//! timeout; caches are bounded; bodies are limited.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use exfee_fee::{FeeSchedule, TradingCalendar};
use exfee_model::Batch;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use std::path::PathBuf;

use exfee_fee::AccountState;

use crate::{
    DEFAULT_ACCOUNT_CACHE_BYTES, DEFAULT_LEG_CACHE_BYTES, EngineConfig, EvaluateOptions, NightFees,
    Order, Outcome, ScenarioSource, WhatIf, WhatIfBook, WhatIfError, evaluate_batch_with,
    orders_to_positions, results_header, results_row, usd_to_base,
};

/// One night as the service holds it: the batch, its evaluation and fees,
/// and the settings to answer what-if questions as the nightly run would.
pub struct Night {
    /// The batch (positions, cash, market).
    pub batch: Batch,
    /// The evaluation and each account's fee.
    pub fees: NightFees,
    /// The scenarios.
    pub source: ScenarioSource,
    /// Engine settings (valuation date, horizon).
    pub config: EngineConfig,
    /// Fee schedule.
    pub schedule: FeeSchedule,
    /// Trading calendar.
    pub calendar: TradingCalendar,
    /// Valuation date.
    pub date: NaiveDate,
    /// Each account's grace state before tonight (from `--state`; `None`
    /// everywhere on a first night).
    pub previous: Vec<Option<AccountState>>,
    /// The what-if fast path: the night's set and the shared unit P&L cache.
    pub book: Arc<WhatIfBook>,
    index: HashMap<String, usize>,
    /// Per account, the prepared what-if (tonight's figures), built once
    /// even when many requests ask for it at the same time (they wait on the
    /// same cell).
    what_ifs: Mutex<Bounded<Arc<tokio::sync::OnceCell<Arc<WhatIf>>>>>,
    reports: Mutex<Bounded<Arc<Rendered>>>,
}

/// An account's report as served: the page and its two charts.
struct Rendered {
    html: String,
    pnl_svg: String,
    contributors_svg: String,
}

/// How a [`Night`] is held: caches and where the grace history comes from.
#[derive(Debug, Clone)]
pub struct NightOptions {
    /// Accounts whose what-if state (tonight's figures: a few kB each) is
    /// kept (oldest dropped first).
    pub accounts_cached: usize,
    /// Rendered reports kept (oldest dropped first; a report with its
    /// charts is 100–300 kB).
    pub reports_cached: usize,
    /// Bytes of per-leg unit P&L vectors kept (least recently used dropped
    /// first).
    pub leg_cache_bytes: usize,
    /// Bytes of accounts' prepared what-if state kept (each account asked
    /// about: its holdings and its P&L in the dense scenarios, 8 bytes a
    /// draw; least recently used dropped first).
    pub account_cache_bytes: usize,
    /// The nightly state database: each account's grace state before
    /// tonight is read from it, so that `fee_status` is the ledger's (as
    /// `exfee run` with that state decides it). `None`: a first night.
    pub state: Option<PathBuf>,
}

impl Default for NightOptions {
    fn default() -> Self {
        NightOptions {
            accounts_cached: 8192,
            reports_cached: 256,
            leg_cache_bytes: DEFAULT_LEG_CACHE_BYTES,
            account_cache_bytes: DEFAULT_ACCOUNT_CACHE_BYTES,
            state: None,
        }
    }
}

/// A cache of at most `capacity` entries, the oldest dropped first.
struct Bounded<T> {
    capacity: usize,
    order: VecDeque<String>,
    map: HashMap<String, T>,
}

impl<T: Clone> Bounded<T> {
    fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            map: HashMap::new(),
        }
    }

    fn get(&self, key: &str) -> Option<T> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: &str, value: T) {
        if self.map.insert(key.to_string(), value).is_none() {
            self.order.push_back(key.to_string());
        }
        while self.map.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }
}

/// How a [`Night`] is loaded (the first time and on every reload): reads
/// the inputs and evaluates them.
pub type Loader = Arc<dyn Fn() -> Result<Night, String> + Send + Sync>;

impl Night {
    /// Evaluates `batch` on `date` and assesses each account's fee against
    /// its grace state before tonight (from `options.state`, else a first
    /// night), as `exfee run` does with that state.
    ///
    /// # Errors
    ///
    /// The reason, in words, when the batch cannot be evaluated or the
    /// state cannot be read.
    pub fn evaluate(
        batch: Batch,
        source: ScenarioSource,
        config: EngineConfig,
        schedule: FeeSchedule,
        calendar: TradingCalendar,
        options: &NightOptions,
    ) -> Result<Night, String> {
        let date = config.valuation_date;
        let previous = match &options.state {
            Some(path) => previous_states(path, &batch, &schedule, &calendar, date)?,
            None => vec![None; batch.accounts.len()],
        };
        let evaluation = evaluate_batch_with(
            &batch,
            &source,
            &config,
            EvaluateOptions {
                stocks: None,
                measure: Some(schedule.measure),
                progress: None,
            },
        )
        .map_err(|e| e.to_string())?;
        let fees = night_fees(evaluation, &batch, &schedule, &calendar, date, &previous)?;
        let book = Arc::new(
            WhatIfBook::with_set(
                fees.evaluation.scenarios.clone(),
                &batch.market,
                &source,
                &config,
                &schedule,
                options.leg_cache_bytes,
            )
            .with_account_cache(options.account_cache_bytes),
        );
        let index = batch
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        Ok(Night {
            batch,
            fees,
            source,
            config,
            schedule,
            calendar,
            date,
            previous,
            book,
            index,
            what_ifs: Mutex::new(Bounded::new(options.accounts_cached)),
            reports: Mutex::new(Bounded::new(options.reports_cached)),
        })
    }

    fn account(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// Each account's grace state before `date` in the state database at
/// `path` (read in a transaction that is rolled back: nothing is written).
fn previous_states(
    path: &std::path::Path,
    batch: &Batch,
    schedule: &FeeSchedule,
    calendar: &TradingCalendar,
    date: NaiveDate,
) -> Result<Vec<Option<AccountState>>, String> {
    let what = |e: exfee_state::StateError| format!("state {}: {e}", path.display());
    if !path.is_file() {
        return Err(format!("state {}: no such file", path.display()));
    }
    let mut db = exfee_state::StateDb::open(path).map_err(what)?;
    let run = db.begin_run(date, schedule.grace, calendar).map_err(what)?;
    batch
        .accounts
        .iter()
        .map(|a| run.previous_state(&a.id).map_err(what))
        .collect()
}

/// Tonight's fees against each account's previous state, as `exfee run`
/// assesses them ([`crate::assess`]; nothing is posted).
fn night_fees(
    evaluation: crate::Evaluation,
    batch: &Batch,
    schedule: &FeeSchedule,
    calendar: &TradingCalendar,
    date: NaiveDate,
    previous: &[Option<AccountState>],
) -> Result<NightFees, String> {
    let context = crate::FeeContext {
        schedule,
        calendar,
        date,
        scenarios: evaluation.scenarios.len(),
    };
    let mut fees = Vec::with_capacity(evaluation.results.len());
    for (i, (result, account)) in evaluation.results.iter().zip(&batch.accounts).enumerate() {
        let (Outcome::Evaluated(risk), Some(base)) = (&result.outcome, result.base_currency) else {
            fees.push(None);
            continue;
        };
        let rate = usd_to_base(&batch.market, base).map_err(|e| e.to_string())?;
        let fee = crate::assess(
            context,
            risk,
            rate,
            account.inventory_fee,
            previous.get(i).and_then(Option::as_ref),
        )
        .map_err(|e| e.to_string())?;
        fees.push(Some(fee));
    }
    Ok(NightFees { evaluation, fees })
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The bearer token every route but `/healthz` needs; `None` only with
    /// `--insecure-local` on a loopback address.
    pub token: Option<String>,
    /// Largest request body, in bytes (larger: 413).
    pub body_limit: usize,
    /// Longest a request may take (longer: 503).
    pub request_timeout: Duration,
    /// Engine computations at once (more wait for a slot, within the
    /// timeout). A computation keeps its slot until it ends, even when its
    /// request was answered 503 for taking too long.
    pub workers: usize,
    /// Longest a connection may take to send a request's header block, and
    /// longest it may stay idle between requests (keep-alive): the
    /// connection is closed then. Before the header block is complete the
    /// request timeout has not started.
    pub header_timeout: Duration,
    /// Connections served at once. At the cap, the next connection waits in
    /// the listening socket's queue until one closes (keep it below the
    /// process's open-file limit, `ulimit -n`).
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            token: None,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// Requests, errors and latency, for `/metrics`.
struct Metrics {
    requests: Mutex<HashMap<(&'static str, u16), u64>>,
    /// Latency histogram per route: counts per bucket (cumulative when
    /// printed), sum of seconds, count.
    latency: Mutex<HashMap<&'static str, Histogram>>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

/// Counts per latency bucket (not cumulative), sum of seconds, count.
type Histogram = ([u64; BUCKETS.len()], f64, u64);

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Metrics {
    fn record(&self, route: &'static str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route, status)).or_insert(0) += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let entry = latency.entry(route).or_insert(([0; BUCKETS.len()], 0.0, 0));
            if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
                entry.0[i] += 1;
            }
            entry.1 += seconds;
            entry.2 += 1;
        }
    }

    fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP exfee_http_requests_total Requests answered, by route and status.\n\
             # TYPE exfee_http_requests_total counter"
        );
        let mut errors: HashMap<&'static str, u64> = HashMap::new();
        if let Ok(requests) = self.requests.lock() {
            let mut rows: Vec<_> = requests.iter().collect();
            rows.sort();
            for ((route, status), count) in rows {
                let _ = writeln!(
                    out,
                    "exfee_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
                if *status >= 400 {
                    *errors.entry(route).or_insert(0) += count;
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP exfee_http_errors_total Requests answered with a 4xx or 5xx status.\n\
             # TYPE exfee_http_errors_total counter"
        );
        let mut errors: Vec<_> = errors.into_iter().collect();
        errors.sort();
        for (route, count) in errors {
            let _ = writeln!(out, "exfee_http_errors_total{{route=\"{route}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP exfee_http_request_duration_seconds Request latency.\n\
             # TYPE exfee_http_request_duration_seconds histogram"
        );
        if let Ok(latency) = self.latency.lock() {
            let mut routes: Vec<_> = latency.iter().collect();
            routes.sort_by_key(|(route, _)| **route);
            for (route, (counts, sum, count)) in routes {
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(counts) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "exfee_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "exfee_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\n\
                     exfee_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}\n\
                     exfee_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP exfee_reloads_total Reloads done.\n# TYPE exfee_reloads_total counter\n\
             exfee_reloads_total {}\n\
             # HELP exfee_reload_failures_total Reloads that failed (the night in service was kept).\n\
             # TYPE exfee_reload_failures_total counter\nexfee_reload_failures_total {}",
            self.reloads.load(Ordering::Relaxed),
            self.reload_failures.load(Ordering::Relaxed)
        );
        out
    }
}

struct AppState {
    night: ArcSwap<Night>,
    loader: Loader,
    options: ServeOptions,
    metrics: Metrics,
    workers: Arc<Semaphore>,
    reloading: tokio::sync::Mutex<()>,
}

/// The service: a router over a night and how to load the next one.
#[derive(Clone)]
pub struct Service {
    state: Arc<AppState>,
}

/// An error answer: status and reason (`{"error": reason}`).
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl Service {
    /// A service answering from `night`, reloading with `loader`.
    pub fn new(night: Night, loader: Loader, options: ServeOptions) -> Service {
        let workers = Arc::new(Semaphore::new(options.workers.max(1)));
        Service {
            state: Arc::new(AppState {
                night: ArcSwap::from_pointee(night),
                loader,
                metrics: Metrics {
                    requests: Mutex::new(HashMap::new()),
                    latency: Mutex::new(HashMap::new()),
                    reloads: AtomicU64::new(0),
                    reload_failures: AtomicU64::new(0),
                },
                options,
                workers,
                reloading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The routes.
    pub fn router(&self) -> Router {
        let state = Arc::clone(&self.state);
        let protected = Router::new()
            .route("/v1/what-if", post(what_if))
            .route("/v1/accounts/{id}", get(account))
            .route("/v1/accounts/{id}/report", get(report))
            .route("/v1/accounts/{id}/report/{chart}", get(report_chart))
            .route("/v1/reload", post(reload))
            .route("/metrics", get(metrics))
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(&state),
                authorise,
            ));
        Router::new()
            .route("/healthz", get(healthz))
            .merge(protected)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
            .layer(DefaultBodyLimit::max(self.state.options.body_limit))
            .with_state(state)
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting
    /// and waits for the requests in flight (idle connections are closed).
    ///
    /// Each connection is HTTP/1 with [`ServeOptions::header_timeout`] to
    /// send a request's header block and as the longest idle time between
    /// requests; at most [`ServeOptions::max_connections`] are served at
    /// once (the next waits in the listening socket's queue for a slot). A
    /// client that opens connections and never finishes a header block
    /// holds each for the header timeout only (docs/serve.md, *Limits*).
    ///
    /// # Errors
    ///
    /// None today (an accept error is logged and the loop goes on); kept
    /// for the caller's `?`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let options = &self.state.options;
        let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(options.header_timeout.max(Duration::from_millis(1)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // A slot first: at the cap, the next connection waits in the
            // listening socket's queue (served in arrival order as slots
            // free up) rather than being accepted and left unanswered.
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors or a connection reset
                        // before it was accepted: wait a moment, go on.
                        tracing::warn!("accept: {e}");
                        drop(slot);
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                            () = &mut shutdown => break,
                        }
                    }
                },
                () = &mut shutdown => break,
            };
            let connection = http.serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(router.clone()),
            );
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("connection: {e}");
                }
                drop(slot);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

async fn not_found() -> Failure {
    Failure(StatusCode::NOT_FOUND, "no such route".into())
}

/// Route label of a path, for metrics (bounded: never the raw path).
fn route_label(path: &str) -> &'static str {
    match path {
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/v1/what-if" => "/v1/what-if",
        "/v1/reload" => "/v1/reload",
        p if p.starts_with("/v1/accounts/") && p.ends_with("/report") => "/v1/accounts/{id}/report",
        p if p.starts_with("/v1/accounts/") && p.contains("/report/") => {
            "/v1/accounts/{id}/report/{chart}"
        }
        p if p.starts_with("/v1/accounts/") => "/v1/accounts/{id}",
        _ => "other",
    }
}

async fn observe(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let route = route_label(request.uri().path());
    let start = Instant::now();
    // A reload evaluates a whole night: it is not cut short (it runs one at
    // a time, and the night in service answers meanwhile).
    let timeout = if route == "/v1/reload" {
        Duration::from_secs(24 * 3600)
    } else {
        state.options.request_timeout
    };
    let response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("request took longer than {} s", timeout.as_secs_f64()),
        )
        .into_response(),
    };
    state.metrics.record(
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// Constant-time comparison (the token is not leaked by timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorise(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.options.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut response = Failure(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer …)".into(),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

async fn healthz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let night = state.night.load();
    axum::Json(json!({
        "status": "ok",
        "date": night.date.to_string(),
        "accounts": night.batch.accounts.len(),
    }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    use std::fmt::Write;
    let mut text = state.metrics.render();
    let night = state.night.load();
    let cache = night.book.cache_stats();
    let _ = write!(
        text,
        "\n# HELP exfee_leg_cache_entries Legs whose unit scenario P&L the what-if cache holds.\n\
         # TYPE exfee_leg_cache_entries gauge\nexfee_leg_cache_entries {}\n\
         # HELP exfee_leg_cache_bytes Bytes the what-if unit P&L cache holds (budget: exfee_leg_cache_budget_bytes).\n\
         # TYPE exfee_leg_cache_bytes gauge\nexfee_leg_cache_bytes {}\n\
         # HELP exfee_leg_cache_budget_bytes Most bytes the what-if unit P&L cache may hold.\n\
         # TYPE exfee_leg_cache_budget_bytes gauge\nexfee_leg_cache_budget_bytes {}\n\
         # HELP exfee_leg_cache_hits_total Legs found in the cache (tonight's night).\n\
         # TYPE exfee_leg_cache_hits_total counter\nexfee_leg_cache_hits_total {}\n\
         # HELP exfee_leg_cache_misses_total Legs priced because they were not in the cache (tonight's night).\n\
         # TYPE exfee_leg_cache_misses_total counter\nexfee_leg_cache_misses_total {}\n",
        cache.entries, cache.bytes, cache.budget, cache.hits, cache.misses
    );
    let accounts = night.book.account_cache_stats();
    let answers = night.book.answer_stats();
    let _ = write!(
        text,
        "# HELP exfee_account_cache_entries Accounts whose prepared what-if state (holdings, dense scenario P&L) the cache holds.\n\
         # TYPE exfee_account_cache_entries gauge\nexfee_account_cache_entries {}\n\
         # HELP exfee_account_cache_bytes Bytes the what-if account cache holds (budget: exfee_account_cache_budget_bytes).\n\
         # TYPE exfee_account_cache_bytes gauge\nexfee_account_cache_bytes {}\n\
         # HELP exfee_account_cache_budget_bytes Most bytes the what-if account cache may hold.\n\
         # TYPE exfee_account_cache_budget_bytes gauge\nexfee_account_cache_budget_bytes {}\n\
         # HELP exfee_account_cache_hits_total Questions that found their account's state in the cache (tonight's night).\n\
         # TYPE exfee_account_cache_hits_total counter\nexfee_account_cache_hits_total {}\n\
         # HELP exfee_account_cache_misses_total Questions that prepared their account's state again (tonight's night).\n\
         # TYPE exfee_account_cache_misses_total counter\nexfee_account_cache_misses_total {}\n\
         # HELP exfee_what_if_answers_total Orders answered, by how: from the account's kept P&L (incremental) or summed in full (full).\n\
         # TYPE exfee_what_if_answers_total counter\n\
         exfee_what_if_answers_total{{path=\"incremental\"}} {}\n\
         exfee_what_if_answers_total{{path=\"full\"}} {}\n",
        accounts.entries,
        accounts.bytes,
        accounts.budget,
        accounts.hits,
        accounts.misses,
        answers.incremental,
        answers.full
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Runs `work` on the blocking pool, at most `workers` at once (a job keeps
/// its slot until it ends, even if its request has timed out).
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    let permit = Arc::clone(&state.workers)
        .acquire_owned()
        .await
        .map_err(|_| {
            Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is shutting down".into(),
            )
        })?;
    // tokio's blocking pool, not rayon::spawn: measured both ways on a
    // loaded 2-core machine (docs/performance.md), the blocking pool's
    // threads gave lower latency (the engine's parallel loops still run on
    // rayon's pool). The slot is held by the job, not by this future: a
    // request answered 503 for its time drops this future, but its job runs
    // to its end and keeps the slot until then.
    tokio::task::spawn_blocking(move || {
        let done = work();
        drop(permit);
        done
    })
    .await
    .map_err(|e| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )
    })
}

/// Tonight's figures of an account: its `results.csv` row as an object.
async fn account(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Failure> {
    let night = state.night.load_full();
    let index = night
        .account(&id)
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no account {id} tonight")))?;
    let row = results_row(
        &night.fees.evaluation.results[index],
        night.fees.fees[index].as_ref(),
    );
    let mut object = serde_json::Map::new();
    object.insert("date".into(), Value::String(night.date.to_string()));
    for (name, cell) in results_header().into_iter().zip(row) {
        object.insert(name.to_string(), Value::String(cell));
    }
    Ok(axum::Json(Value::Object(object)))
}

/// The account's HTML report. Its charts are served beside it
/// (`report/pnl.svg`, `report/contributors.svg`, relative to the page), so
/// every link of the page works against the service.
async fn report(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let rendered = rendered(&state, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        rendered.html.clone(),
    )
        .into_response())
}

/// A chart of the account's report (`pnl.svg` or `contributors.svg`).
async fn report_chart(
    State(state): State<Arc<AppState>>,
    Path((id, chart)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let rendered = rendered(&state, &id).await?;
    let svg = match chart.as_str() {
        "pnl.svg" => rendered.pnl_svg.clone(),
        "contributors.svg" => rendered.contributors_svg.clone(),
        _ => {
            return Err(Failure(
                StatusCode::NOT_FOUND,
                format!("no chart {chart} (pnl.svg, contributors.svg)"),
            ));
        }
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Where the page finds its charts: relative to `/v1/accounts/{id}/report`,
/// `report/…` is `/v1/accounts/{id}/report/…`.
const CHART_LINKS: [&str; 2] = ["report/pnl.svg", "report/contributors.svg"];

async fn rendered(state: &Arc<AppState>, id: &str) -> Result<Arc<Rendered>, Failure> {
    let night = state.night.load_full();
    let index = night
        .account(id)
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no account {id} tonight")))?;
    if let Some(rendered) = night.reports.lock().ok().and_then(|c| c.get(id)) {
        return Ok(rendered);
    }
    let Some(fee) = night.fees.fees[index].clone() else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("account {id} failed tonight: no report (see /v1/accounts/{id})"),
        ));
    };
    let worker_night = Arc::clone(&night);
    let rendered =
        Arc::new(blocking(state, move || render_report(&worker_night, index, fee)).await??);
    if let Ok(mut cache) = night.reports.lock() {
        cache.insert(id, Arc::clone(&rendered));
    }
    Ok(rendered)
}

fn render_report(night: &Night, index: usize, fee: crate::FeeLine) -> Result<Rendered, Failure> {
    let internal = |e: String| Failure(StatusCode::INTERNAL_SERVER_ERROR, e);
    let base = night.fees.evaluation.results[index]
        .base_currency
        .ok_or_else(|| internal("no base currency".into()))?;
    let rate = usd_to_base(&night.batch.market, base).map_err(|e| internal(e.to_string()))?;
    let context = crate::FeeContext {
        schedule: &night.schedule,
        calendar: &night.calendar,
        date: night.date,
        scenarios: night.fees.evaluation.scenarios.len(),
    };
    let subject = crate::Subject {
        account: index,
        fee,
        usd_to_base: rate,
    };
    let reports = crate::build_reports(
        &night.fees.evaluation,
        &[subject],
        context,
        &night.batch.market,
    )
    .map_err(|e| internal(e.to_string()))?;
    let report = reports
        .first()
        .ok_or_else(|| internal("no report built".into()))?;
    let links = exfee_report::ChartLinks {
        pnl_histogram: Some(CHART_LINKS[0].to_string()),
        contributors: Some(CHART_LINKS[1].to_string()),
    };
    Ok(Rendered {
        html: exfee_report::html(report, &links),
        pnl_svg: exfee_report::pnl_histogram_svg(report).map_err(|e| internal(e.to_string()))?,
        contributors_svg: exfee_report::contributors_svg(report)
            .map_err(|e| internal(e.to_string()))?,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WhatIfRequest {
    account: String,
    orders: Vec<Order>,
}

/// Most orders in one what-if request.
pub const MAX_ORDERS: usize = 100;

async fn what_if(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<impl IntoResponse, Failure> {
    let request: WhatIfRequest = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))?;
    if request.orders.len() > MAX_ORDERS {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_ORDERS} orders in one request"),
        ));
    }
    let night = state.night.load_full();
    let index = night.account(&request.account).ok_or_else(|| {
        Failure(
            StatusCode::NOT_FOUND,
            format!("no account {} tonight", request.account),
        )
    })?;
    let positions = orders_to_positions(&night.batch, &request.account, &request.orders)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
    let cell = {
        let mut cache = night
            .what_ifs
            .lock()
            .map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "cache poisoned".into()))?;
        match cache.get(&request.account) {
            Some(cell) => cell,
            None => {
                let cell = Arc::new(tokio::sync::OnceCell::new());
                cache.insert(&request.account, Arc::clone(&cell));
                cell
            }
        }
    };
    let status = |e: WhatIfError| match e {
        WhatIfError::UnknownAccount(_) => Failure(StatusCode::NOT_FOUND, e.to_string()),
        WhatIfError::NotEvaluable { .. } => Failure(StatusCode::BAD_REQUEST, e.to_string()),
        WhatIfError::Engine(_) => Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    // An order the account's kept state answers cheaply (its state and
    // every leg in the caches: a few passes over the dense scenarios) is
    // answered here, on the async thread: a hand-off to the blocking pool
    // and back would cost more than the answer (docs/serve.md, *Where
    // answers are computed*). Anything more (an account's first question, a
    // leg to price, a set to build, a full sum) goes to the blocking pool.
    if let Some(prepared) = cell.get()
        && let Some(answer) = prepared.order_kept(&positions).map_err(status)?
    {
        return Ok(answer_json(&night, index, &request.account, &answer));
    }
    let prepared = cell
        .get_or_try_init(|| {
            let worker_night = Arc::clone(&night);
            let id = request.account.clone();
            async {
                blocking(&state, move || {
                    let account = worker_night
                        .batch
                        .accounts
                        .get(index)
                        .ok_or(WhatIfError::UnknownAccount(id))?;
                    worker_night.book.account(account).map(Arc::new)
                })
                .await?
                .map_err(status)
            }
        })
        .await?
        .clone();
    let answer = blocking(&state, move || prepared.order(&positions))
        .await?
        .map_err(status)?;
    Ok(answer_json(&night, index, &request.account, &answer))
}

/// The what-if answer of account `index` of `night` as the service sends it.
fn answer_json(
    night: &Night,
    index: usize,
    account: &str,
    answer: &crate::WhatIfAnswer,
) -> axum::Json<Value> {
    let fee = night.fees.fees[index].as_ref();
    let currency = night.fees.evaluation.results[index]
        .base_currency
        .map(|c| c.to_string())
        .unwrap_or_default();
    axum::Json(crate::what_if_answer(
        account,
        &currency,
        fee,
        night.previous[index].as_ref(),
        &night.schedule,
        night.date,
        answer,
    ))
}

/// Loads the next night and swaps it in: requests in flight finish on the
/// night they started with. One reload at a time; a failed load keeps the
/// night in service (and says why).
async fn reload(State(state): State<Arc<AppState>>) -> Result<Response, Failure> {
    let _one = state.reloading.lock().await;
    let loader = Arc::clone(&state.loader);
    let loaded = tokio::task::spawn_blocking(move || loader())
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {e}"),
            )
        })?;
    match loaded {
        Ok(night) => {
            let accounts = night.batch.accounts.len();
            let date = night.date.to_string();
            state.night.store(Arc::new(night));
            state.metrics.reloads.fetch_add(1, Ordering::Relaxed);
            Ok(
                axum::Json(json!({ "status": "reloaded", "date": date, "accounts": accounts }))
                    .into_response(),
            )
        }
        Err(reason) => {
            state
                .metrics
                .reload_failures
                .fetch_add(1, Ordering::Relaxed);
            Err(Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("reload failed, the night in service is kept: {reason}"),
            ))
        }
    }
}
