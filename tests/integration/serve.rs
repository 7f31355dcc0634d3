//! The what-if service over real HTTP: a server on a loopback port (port
//! 0), a real client (reqwest), the token, every error status, and a
//! reload under load with no failed request.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use exfee::engine::single_stocks;
use exfee::fee::{FeeSchedule, TradingCalendar};
use exfee::io::{DropPaths, read_drop};
use exfee::serve::{Loader, Night, NightOptions, ServeOptions, Service};
use exfee::{
    CashBalance, Decimal, EngineConfig, EvaluateOptions, Outcome, Position, ScenarioSource,
    evaluate_batch_with,
};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

fn nightly() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly")
}

fn source() -> ScenarioSource {
    ScenarioSource::default_set().fixed_only()
}

fn config() -> EngineConfig {
    EngineConfig::new("2026-11-20".parse().unwrap())
}

fn load_with(loads: &AtomicUsize, options: &NightOptions) -> Result<Night, String> {
    loads.fetch_add(1, Ordering::SeqCst);
    let source = source();
    let batch = read_drop(&DropPaths::in_dir(&nightly()), source.factor_table())
        .map_err(|e| e.to_string())?;
    Night::evaluate(
        batch,
        source,
        config(),
        FeeSchedule::default(),
        TradingCalendar::default(),
        options,
    )
}

struct Server {
    base: String,
    client: reqwest::Client,
    loads: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(options: ServeOptions) -> Server {
        Server::start_with(options, NightOptions::default())
    }

    fn start_with(options: ServeOptions, night_options: NightOptions) -> Server {
        Server::start_loading(options, move |loads| load_with(loads, &night_options))
    }

    /// A server whose nights (the first and each reload) `load` gives.
    fn start_loading(
        options: ServeOptions,
        load: impl Fn(&AtomicUsize) -> Result<Night, String> + Send + Sync + 'static,
    ) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let loads = Arc::new(AtomicUsize::new(0));
        let night = load(&loads).unwrap();
        let counter = Arc::clone(&loads);
        let loader: Loader = Arc::new(move || load(&counter));
        let service = Service::new(night, loader, options);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let base = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(service.serve(listener, async {
                #[allow(
                    clippy::let_underscore_must_use,
                    reason = "a dropped sender stops it too"
                )]
                let _ = stopped.await;
            }));
            format!("http://{address}")
        });
        Server {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                // Idle connections are dropped before the server's header
                // timeout closes them (1 s in the slow-client test).
                .pool_idle_timeout(Duration::from_millis(500))
                .build()
                .unwrap(),
            loads,
            stop: Some(stop),
            runtime,
        }
    }

    fn options() -> ServeOptions {
        ServeOptions {
            token: Some(TOKEN.into()),
            body_limit: 4096,
            ..ServeOptions::default()
        }
    }

    /// (status, body as JSON or as text in a JSON string).
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        self.runtime
            .block_on(send(&self.client, &self.base, method, path, token, body))
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            #[allow(
                clippy::let_underscore_must_use,
                reason = "the server may have stopped"
            )]
            let _ = stop.send(());
        }
    }
}

/// The golden results of the fixed set, as an oracle for the account route
/// (tests/golden is checked against an independent script).
fn golden_row(account: &str) -> std::collections::HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/nightly-fixed-results.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for row in reader.records() {
        let row = row.unwrap();
        if &row[0] == account {
            return header
                .iter()
                .cloned()
                .zip(row.iter().map(String::from))
                .collect();
        }
    }
    panic!("{account} not in the golden file");
}

#[test]
fn routes_token_and_error_statuses() {
    let server = Server::start(Server::options());
    // /healthz needs no token; everything else does.
    let (status, health) = server.call("GET", "/healthz", None, None);
    assert_eq!(status, 200);
    assert_eq!(health["accounts"], 76);
    for (method, path) in [
        ("GET", "/v1/accounts/U1303271"),
        ("GET", "/v1/accounts/U1303271/report"),
        ("GET", "/metrics"),
        ("POST", "/v1/what-if"),
        ("POST", "/v1/reload"),
    ] {
        assert_eq!(server.call(method, path, None, None).0, 401, "{path}");
        assert_eq!(
            server
                .call(method, path, Some("wrong-token-0123456789"), None)
                .0,
            401,
            "{path}"
        );
    }

    // Tonight's figures: the results.csv row.
    let (status, account) = server.call("GET", "/v1/accounts/U1303271", Some(TOKEN), None);
    assert_eq!(status, 200);
    for (column, cell) in golden_row("U1303271") {
        assert_eq!(account[&column], Value::String(cell), "{column}");
    }
    // The report is HTML naming the account.
    let (status, report) = server.call("GET", "/v1/accounts/U9709660/report", Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(report.as_str().unwrap().contains("U9709660"));
    // Every file the page links to (its charts) is served: each relative
    // `src`/`href` resolved against the page's URL answers 200 with an SVG.
    let html = report.as_str().unwrap();
    let page =
        reqwest::Url::parse(&format!("{}/v1/accounts/U9709660/report", server.base)).unwrap();
    let mut links = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            let link = piece.split('"').next().unwrap();
            if !link.starts_with('#') && !link.contains(':') {
                links.push(link.to_string());
            }
        }
    }
    assert_eq!(links.len(), 2, "{links:?}");
    for link in links {
        let url = page.join(&link).unwrap();
        let (status, chart) = server.call("GET", url.path(), Some(TOKEN), None);
        assert_eq!(status, 200, "{link} -> {url}");
        assert!(chart.as_str().unwrap().contains("<svg"), "{link}");
    }
    assert_eq!(
        server
            .call(
                "GET",
                "/v1/accounts/U9709660/report/nope.svg",
                Some(TOKEN),
                None
            )
            .0,
        404
    );

    // 404: unknown account (three routes) and unknown route.
    assert_eq!(
        server.call("GET", "/v1/accounts/NOPE", Some(TOKEN), None).0,
        404
    );
    assert_eq!(
        server
            .call("GET", "/v1/accounts/NOPE/report", Some(TOKEN), None)
            .0,
        404
    );
    let order = r#"{"account":"NOPE","orders":[{"symbol":"TSLA","asset_class":"STK","currency":"USD","quantity":1}]}"#;
    let (status, body) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(order));
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("NOPE"));
    assert_eq!(server.call("GET", "/v2/nothing", Some(TOKEN), None).0, 404);
    // An order in a currency tonight's market prices (EUR, GBP) is read; one
    // in a currency it has no rate for is refused with the reason.
    for (symbol, currency) in [("ALV", "EUR"), ("HSBA", "GBP")] {
        let order = json!({"account": "U1303271", "orders": [{"symbol": symbol,
            "asset_class": "STK", "currency": currency, "quantity": -1}]});
        let (status, body) =
            server.call("POST", "/v1/what-if", Some(TOKEN), Some(&order.to_string()));
        assert_eq!(status, 200, "{currency}: {body}");
    }
    let order = r#"{"account":"U1303271","orders":[{"symbol":"VOLV","asset_class":"STK","currency":"SEK","quantity":1,"price":"250"}]}"#;
    let (status, body) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(order));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("SEK"), "{body}");

    // 400: malformed JSON, unknown field, an order the engine cannot price.
    let (status, body) = server.call(
        "POST",
        "/v1/what-if",
        Some(TOKEN),
        Some(r#"{"account": "U9709660","#),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed request")
    );
    let unknown = r#"{"account":"U9709660","orders":[{"symbol":"TSLA","asset_class":"STK","currency":"USD","quantity":1,"colour":"red"}]}"#;
    assert_eq!(
        server
            .call("POST", "/v1/what-if", Some(TOKEN), Some(unknown))
            .0,
        400
    );
    let no_price = r#"{"account":"U9709660","orders":[{"symbol":"NEWCO","asset_class":"STK","currency":"USD","quantity":5}]}"#;
    let (status, body) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(no_price));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("no price"),
        "{body}"
    );
    let bad_quantity = r#"{"account":"U9709660","orders":[{"symbol":"TSLA","asset_class":"STK","currency":"USD","quantity":"lots"}]}"#;
    let (status, body) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(bad_quantity));
    assert_eq!(status, 400);
    // The reason the drop gives for that field of a positions.csv row.
    assert_eq!(
        body["error"],
        "order 1 field quantity: \"lots\" is not a decimal number (plain notation like 1234.56, \
         at most 28 significant digits)",
        "{body}"
    );
    let bad_option = r#"{"account":"U9709660","orders":[{"symbol":"TSLA 261218C300","asset_class":"OPT","currency":"USD","quantity":1,"price":"12","multiplier":100,"underlying":"TSLA","strike":"300","expiry":"2026-13-40","right":"C"}]}"#;
    let (status, body) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(bad_option));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"], "order 1 field expiry: \"2026-13-40\" is not a date (YYYY-MM-DD)",
        "{body}"
    );

    // 413: a body over the limit (4096 bytes here).
    let big = format!(r#"{{"account":"U9709660","pad":"{}"}}"#, "x".repeat(8192));
    assert_eq!(
        server
            .call("POST", "/v1/what-if", Some(TOKEN), Some(&big))
            .0,
        413
    );

    // Metrics: requests by route and status, the latency histogram, errors.
    let (status, metrics) = server.call("GET", "/metrics", Some(TOKEN), None);
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(r#"exfee_http_requests_total{route="/v1/what-if",status="400"} 6"#),
        "{text}"
    );
    assert!(
        text.contains(r#"exfee_http_requests_total{route="/v1/accounts/{id}",status="401"} 2"#)
    );
    assert!(text.contains(r#"exfee_http_request_duration_seconds_count{route="/healthz"} 1"#));
    assert!(text.contains(r#"exfee_http_errors_total{route="/v1/what-if"}"#));
    // The unit P&L cache: the legs the what-if questions priced are held.
    let gauge = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(gauge("exfee_leg_cache_entries") > 0.0, "{text}");
    assert!(gauge("exfee_leg_cache_bytes") <= gauge("exfee_leg_cache_budget_bytes"));
    assert!(gauge("exfee_leg_cache_misses_total") >= gauge("exfee_leg_cache_entries"));
}

/// The account with the order applied, evaluated by the full engine (not
/// the what-if fast path): the oracle of the what-if answer.
fn evaluated_with(account: &str, symbol: &str, quantity: i64) -> (Decimal, Decimal, String) {
    evaluated_in(|_| (), account, symbol, quantity)
}

/// As [`evaluated_with`], in the nightly drop changed by `change`.
fn evaluated_in(
    change: impl Fn(&mut exfee::Batch),
    account: &str,
    symbol: &str,
    quantity: i64,
) -> (Decimal, Decimal, String) {
    let source = source();
    let mut full = read_drop(&DropPaths::in_dir(&nightly()), source.factor_table()).unwrap();
    change(&mut full);
    let stocks = single_stocks(&full, source.factor_table());
    let mut batch = full.clone();
    batch.accounts.retain(|a| a.id == account);
    let holding = batch.accounts[0]
        .positions
        .iter()
        .find(|p| p.instrument.symbol == symbol)
        .unwrap()
        .clone();
    let quantity = Decimal::from(quantity);
    let value = holding.instrument.market_value(quantity).unwrap();
    let target = &mut batch.accounts[0];
    target.positions.push(Position {
        instrument: holding.instrument.clone(),
        quantity,
    });
    target.cash.push(CashBalance {
        currency: holding.instrument.currency,
        amount: -value,
    });
    let evaluation = evaluate_batch_with(
        &batch,
        &source,
        &config(),
        EvaluateOptions {
            stocks: Some(stocks),
            ..EvaluateOptions::default()
        },
    )
    .unwrap();
    let Outcome::Evaluated(risk) = &evaluation.results[0].outcome else {
        panic!()
    };
    let label = exfee::io::scenario_label(risk.worst_scenario, risk.worst_scenario_name.as_deref());
    (risk.nlv, risk.worst_loss, label)
}

#[test]
fn what_if_answers_as_a_full_evaluation_with_the_order() {
    let server = Server::start(Server::options());
    let body = json!({"account": "U9709660",
                      "orders": [{"symbol": "TSLA", "asset_class": "STK", "currency": "USD", "quantity": -500}]});
    let (status, answer) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    let golden = golden_row("U9709660");
    assert_eq!(answer["account"], "U9709660");
    assert_eq!(
        answer["currency"],
        Value::String(golden["base_currency"].clone())
    );
    // Before: tonight's figures (the fixed set's worst loss is the measure).
    assert_eq!(
        answer["before"]["nlv"],
        Value::String(golden["nlv"].clone())
    );
    assert_eq!(
        answer["before"]["measure"],
        Value::String(golden["measure"].clone())
    );
    assert_eq!(
        answer["before"]["uncovered"],
        Value::String(golden["uncovered"].clone())
    );
    // After: the full engine on the account with the order filled at the mark.
    let (nlv, worst, label) = evaluated_with("U9709660", "TSLA", -500);
    assert_eq!(
        answer["before"]["worst_scenario"],
        Value::String(golden["worst_scenario"].clone())
    );
    assert_eq!(answer["after"]["worst_scenario"], Value::String(label));
    let dec = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    assert_eq!(dec(&answer["after"]["nlv"]), nlv);
    assert_eq!(dec(&answer["after"]["measure"]), worst);
    assert_eq!(
        dec(&answer["after"]["uncovered"]),
        (worst - nlv).max(Decimal::ZERO)
    );
    assert_eq!(
        dec(&answer["change"]),
        dec(&answer["after"]["daily_fee"]) - dec(&answer["before"]["daily_fee"])
    );
    for side in ["before", "after"] {
        for field in [
            "daily_fee",
            "fee_status",
            "measure",
            "uncovered",
            "nlv",
            "worst_scenario",
        ] {
            assert!(answer[side][field].is_string(), "{side}.{field}");
        }
        // The per-class split adds up to the daily fee, to the cent.
        let split: Decimal = answer[side]["by_class"]
            .as_object()
            .unwrap()
            .values()
            .map(dec)
            .sum();
        let fee = dec(&answer[side]["daily_fee"]);
        assert_eq!(split, fee, "{side}: {answer}");
    }
    assert!(
        dec(&answer["before"]["daily_fee"]) > Decimal::ZERO,
        "{answer}"
    );
    // A second question on the account reuses its prepared state; same answer.
    let (_, again) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body.to_string()));
    assert_eq!(again, answer);
    // Another order on the held stock: answered from the account's kept
    // state (on the async threads, no hand-off), the full engine's figures.
    let body = json!({"account": "U9709660",
                      "orders": [{"symbol": "TSLA", "asset_class": "STK", "currency": "USD", "quantity": 120}]});
    let (status, other) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body.to_string()));
    assert_eq!(status, 200, "{other}");
    let (nlv, worst, label) = evaluated_with("U9709660", "TSLA", 120);
    assert_eq!(other["after"]["worst_scenario"], Value::String(label));
    assert_eq!(dec(&other["after"]["nlv"]), nlv);
    assert_eq!(dec(&other["after"]["measure"]), worst);
    assert_eq!(other["before"], answer["before"]);
}

#[test]
fn offsetting_orders_change_nothing_and_a_holding_past_2_53_is_refused() {
    let server = Server::start(Server::options());
    let ask = |orders: Value| {
        let body = json!({"account": "U1303271", "orders": orders}).to_string();
        server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body))
    };
    let tsla = |quantity: &str| json!({"symbol": "TSLA", "asset_class": "STK", "currency": "USD", "quantity": quantity});
    // U1303271 holds 4 TSLA (examples/nightly/positions.csv). Bought and
    // sold back at the same price, 10^17 shares: the account is as it was,
    // every figure of `after` is `before`'s. (Summed in f64,
    // 4 + 10^17 − 10^17 is 0: the account lost its 4 shares.)
    let big = "100000000000000000";
    let (status, body) = ask(json!([tsla(big), tsla(&format!("-{big}"))]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["after"], body["before"]);
    assert_eq!(body["change"], "0");
    // 10^26 shares at 421.60 pay 4.216 × 10^28 USD: with the account's
    // 2,462.15 USD that is 31 significant digits, more than a decimal holds
    // (it would be rounded to the dollar): refused, not answered rounded
    // (the NLV's sum, checked first).
    let big = "100000000000000000000000000";
    let (status, body) = ask(json!([tsla(big), tsla(&format!("-{big}"))]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "account U1303271 cannot be evaluated: net liquidation value cannot be held to the \
         cent: its sum needs more digits than a Decimal holds (about 28)"
    );
    // 4 + 9,007,199,254,740,988 = 2^53 shares: held; one more is beyond the
    // engine's f64 (2^53 + 1 would be held as 2^53): 400, naming TSLA.
    let (status, body) = ask(json!([tsla("9007199254740988")]));
    assert_eq!(status, 200, "{body}");
    // Filled at the mark: value moves from cash to shares, the NLV stays.
    assert_eq!(body["after"]["nlv"], body["before"]["nlv"]);
    let (status, body) = ask(json!([tsla("9007199254740989")]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "account U1303271 cannot be evaluated: TSLA (STK USD): quantity 9007199254740993 (the \
         account's rows of it summed) is beyond what the engine holds to the unit (at most \
         9007199254740992 = 2^53 in magnitude)"
    );
    // The same through two orders that each stay below it.
    let (status, body) = ask(json!([tsla("4503599627370496"), tsla("4503599627370493")]));
    assert_eq!(status, 400, "{body}");
}

/// Reads `stream` to its end: what the server sent before it closed the
/// connection, or `None` if it was still open after `bound`.
fn read_to_close(stream: &mut std::net::TcpStream, bound: Duration) -> Option<Vec<u8>> {
    use std::io::Read;
    let start = std::time::Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while start.elapsed() < bound {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // Reset by the server: closed too.
            Err(_) => return Some(got),
        }
    }
    None
}

#[test]
fn a_connection_that_never_finishes_its_header_is_closed_and_others_are_served() {
    use std::io::Write;
    let cap = 4;
    let server = Server::start(ServeOptions {
        header_timeout: Duration::from_secs(1),
        max_connections: cap,
        ..Server::options()
    });
    let address = server.base.trim_start_matches("http://").to_string();
    // As many connections as the cap, each sending a header block without
    // its closing blank line (the hunt's slowloris).
    let mut slow: Vec<std::net::TcpStream> = (0..cap)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            stream
        })
        .collect();
    // An authenticated request meanwhile: answered (once a slot frees, at
    // the latest when the slow ones are closed).
    let (status, body) = server.call("GET", "/v1/accounts/U1303271", Some(TOKEN), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"], "U1303271");
    // Each slow connection is closed by the server, with no answer to a
    // request it never finished (the bound is generous: the header timeout
    // is 1 s).
    for stream in &mut slow {
        let sent = read_to_close(stream, Duration::from_secs(60));
        assert!(sent.is_some(), "a slow connection was left open");
        assert!(!String::from_utf8_lossy(&sent.unwrap()).contains("\"ok\""));
    }
    // A keep-alive connection idle after its answer is closed too.
    let mut idle = std::net::TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let sent = read_to_close(&mut idle, Duration::from_secs(60));
    let sent = String::from_utf8_lossy(sent.as_deref().expect("an idle connection was left open"))
        .into_owned();
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    // The service still answers.
    let (status, body) = server.call("GET", "/healthz", None, None);
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
}

#[test]
fn a_request_over_its_time_gets_503() {
    let server = Server::start(ServeOptions {
        request_timeout: Duration::from_nanos(1),
        workers: 1,
        ..Server::options()
    });
    // Every account's first question at once, one engine worker: the work
    // of all of them together lasts well over the timer's millisecond, so
    // requests time out (waiting for the worker or working); the others are
    // answered (200, or 400 for an account that cannot be evaluated).
    let accounts = crate::common::read_csv(&nightly().join("accounts.csv"));
    let (base, client) = (server.base.clone(), server.client.clone());
    let statuses: Vec<u16> = server.runtime.block_on(async move {
        let mut requests = Vec::new();
        for row in accounts.into_iter().skip(1) {
            let (base, client) = (base.clone(), client.clone());
            let body = json!({"account": row[0], "orders": [{"symbol": "SPY",
                "asset_class": "STK", "currency": "USD", "quantity": 1, "price": "500"}]})
            .to_string();
            requests.push(tokio::spawn(async move {
                send(
                    &client,
                    &base,
                    "POST",
                    "/v1/what-if",
                    Some(TOKEN),
                    Some(&body),
                )
                .await
                .0
            }));
        }
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        statuses
    });
    assert_eq!(statuses.len(), 76);
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 400, 503].contains(s)),
        "{statuses:?}"
    );
}

#[test]
fn reload_under_load_fails_no_request() {
    let server = Server::start(Server::options());
    assert_eq!(server.loads.load(Ordering::SeqCst), 1);
    let base = server.base.clone();
    let client = server.client.clone();
    let statuses = server.runtime.block_on(async move {
        let mut clients = Vec::new();
        for i in 0..8 {
            let (client, base) = (client.clone(), base.clone());
            clients.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for j in 0..25 {
                    let status = if (i + j) % 3 == 0 {
                        let body = r#"{"account":"U1303271","orders":[{"symbol":"AAPL","asset_class":"STK","currency":"USD","quantity":-5}]}"#;
                        send(&client, &base, "POST", "/v1/what-if", Some(TOKEN), Some(body)).await.0
                    } else {
                        send(&client, &base, "GET", "/v1/accounts/U1396269", Some(TOKEN), None).await.0
                    };
                    statuses.push(status);
                }
                statuses
            }));
        }
        let mut reloads = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            reloads.push(send(&client, &base, "POST", "/v1/reload", Some(TOKEN), None).await.0);
        }
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        (all, reloads)
    });
    let (requests, reloads) = statuses;
    assert_eq!(reloads, vec![200, 200, 200]);
    assert_eq!(requests.len(), 200);
    assert!(requests.iter().all(|&s| s == 200), "{requests:?}");
    assert_eq!(server.loads.load(Ordering::SeqCst), 4);
    let (_, metrics) = server.call("GET", "/metrics", Some(TOKEN), None);
    assert!(metrics.as_str().unwrap().contains("exfee_reloads_total 3"));
}

#[test]
fn serve_refuses_to_start_without_a_token() {
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_exfee"));
        command
            .env_remove("EXFEE_TOKEN")
            .args(["serve"])
            .arg(nightly())
            .args(["--date", "2026-11-20", "--fixed-only"]);
        command.args(args).envs(envs.iter().copied());
        command.output().unwrap()
    };
    let out = run(&[], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no bearer token"));
    let out = run(&[], &["--insecure-local", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = run(&[("EXFEE_TOKEN", "short")], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
    // Characters, not bytes; visible ASCII only (a header carrying any
    // other byte never authenticates). A token let through would fail
    // later, at the address (a documentation network's, not this host's).
    for (token, reason) in [
        // Eight characters in sixteen bytes.
        ("éééééééé", "not 'é'"),
        // Sixteen characters, one of them not ASCII.
        ("abcdefghijklmnoé", "not 'é'"),
        ("abcdefgh ijklmnop", "not ' '"),
    ] {
        let out = run(&[("EXFEE_TOKEN", token)], &["--listen", "192.0.2.1:9"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("visible ASCII characters (! to ~)") && stderr.contains(reason),
            "{token}: {stderr}"
        );
    }
}

/// `exfee run` on the nightly drop with the fixed set (the service's here).
fn run_night(
    out: &Path,
    state: &Path,
    date: &str,
) -> std::collections::HashMap<String, Vec<String>> {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_exfee"))
        .arg("run")
        .arg(nightly())
        .arg("--out")
        .arg(out)
        .arg("--state")
        .arg(state)
        .args(["--date", date, "--fixed-only", "--no-reports", "--quiet"])
        .output()
        .unwrap();
    assert!(
        run.status.success() || run.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows = crate::common::read_csv(&out.join("results.csv"));
    let header = rows[0].clone();
    rows.into_iter()
        .skip(1)
        .map(|row| {
            (
                row[0].clone(),
                header
                    .iter()
                    .cloned()
                    .zip(row)
                    .map(|(h, c)| format!("{h}={c}"))
                    .collect(),
            )
        })
        .collect()
}

/// With `--state`, an account's fee status is the ledger's: accounts first
/// subject ten days before tonight are past their grace week and charged,
/// as `exfee run` on the same state charges them (tonight's results.csv is
/// the oracle); without it every subject account would be in grace.
#[test]
fn fee_status_comes_from_the_state() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    run_night(&work.path().join("n1"), &state, "2026-11-10");
    // The service reads the state as it is before tonight; the run's copy
    // then records tonight.
    let copy = work.path().join("copy.sqlite");
    std::fs::copy(&state, &copy).unwrap();
    let tonight = run_night(&work.path().join("n2"), &copy, "2026-11-20");
    let server = Server::start_with(
        Server::options(),
        NightOptions {
            state: Some(state.clone()),
            ..NightOptions::default()
        },
    );
    let mut charged = 0;
    for (account, row) in &tonight {
        let (status, figures) =
            server.call("GET", &format!("/v1/accounts/{account}"), Some(TOKEN), None);
        assert_eq!(status, 200);
        for cell in row {
            let (column, value) = cell.split_once('=').unwrap();
            // What tonight's run posted is the ledger's business, not the service's.
            if ["days_posted", "amount_posted"].contains(&column) {
                continue;
            }
            assert_eq!(
                figures[column],
                Value::String(value.into()),
                "{account} {column}"
            );
        }
        if figures["fee_status"] == "charged" {
            charged += 1;
            // The what-if's `before` status is the ledger's too.
            let body = json!({"account": account, "orders": [{"symbol": "SPY",
                "asset_class": "STK", "currency": "USD", "quantity": 1, "price": "500"}]})
            .to_string();
            let (status, answer) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body));
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["before"]["fee_status"], "charged", "{answer}");
            assert_eq!(answer["after"]["fee_status"], "charged", "{answer}");
        }
    }
    assert!(charged > 0, "no account charged: the test would not tell");
    // A state file that is not there is refused (not taken as a first night).
    let missing = NightOptions {
        state: Some(work.path().join("nope.sqlite")),
        ..NightOptions::default()
    };
    let error = load_with(&AtomicUsize::new(0), &missing).err().unwrap();
    assert!(error.contains("nope.sqlite"), "{error}");
}

/// Another night's batch: the nightly drop with 400 TSLA more in U9709660.
fn grown(batch: &mut exfee::Batch) {
    let account = batch
        .accounts
        .iter_mut()
        .find(|a| a.id == "U9709660")
        .unwrap();
    let tsla = account
        .positions
        .iter()
        .find(|p| p.instrument.symbol == "TSLA")
        .unwrap()
        .instrument
        .clone();
    account.positions.push(Position {
        instrument: tsla,
        quantity: Decimal::from(400),
    });
}

#[test]
fn a_reload_drops_the_kept_state_of_the_old_night() {
    // The first night is the drop; every reload brings the grown one.
    let server = Server::start_loading(Server::options(), |loads| {
        let first = loads.fetch_add(1, Ordering::SeqCst) == 0;
        let source = source();
        let mut batch = read_drop(&DropPaths::in_dir(&nightly()), source.factor_table())
            .map_err(|e| e.to_string())?;
        if !first {
            grown(&mut batch);
        }
        Night::evaluate(
            batch,
            source,
            config(),
            FeeSchedule::default(),
            TradingCalendar::default(),
            &NightOptions::default(),
        )
    });
    let body = json!({"account": "U9709660",
                      "orders": [{"symbol": "TSLA", "asset_class": "STK", "currency": "USD", "quantity": -500}]})
    .to_string();
    let dec = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    // Asked twice on the first night: the second answer from the kept state.
    let (status, old) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body));
    assert_eq!(status, 200, "{old}");
    let (_, again) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body));
    assert_eq!(again, old);
    let (_, metrics) = server.call("GET", "/metrics", Some(TOKEN), None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("exfee_account_cache_entries 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exfee_account_cache_hits_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exfee_what_if_answers_total{path=\"incremental\"} 2\n"),
        "{metrics}"
    );
    let (nlv, worst, label) = evaluated_with("U9709660", "TSLA", -500);
    assert_eq!(dec(&old["after"]["measure"]), worst);
    assert_eq!(dec(&old["after"]["nlv"]), nlv);
    assert_eq!(old["after"]["worst_scenario"], Value::String(label));

    let (status, _) = server.call("POST", "/v1/reload", Some(TOKEN), None);
    assert_eq!(status, 200);
    // The new night's figures, before and after, nothing of the old one.
    let (status, new) = server.call("POST", "/v1/what-if", Some(TOKEN), Some(&body));
    assert_eq!(status, 200, "{new}");
    let (_, tonight) = server.call("GET", "/v1/accounts/U9709660", Some(TOKEN), None);
    assert_eq!(new["before"]["measure"], tonight["measure"]);
    assert_eq!(new["before"]["nlv"], tonight["nlv"]);
    assert_ne!(new["before"]["measure"], old["before"]["measure"]);
    let (nlv, worst, label) = evaluated_in(grown, "U9709660", "TSLA", -500);
    assert_ne!(worst, dec(&old["after"]["measure"]));
    assert_eq!(dec(&new["after"]["measure"]), worst);
    assert_eq!(dec(&new["after"]["nlv"]), nlv);
    assert_eq!(new["after"]["worst_scenario"], Value::String(label));
    // The new night's caches started empty.
    let (_, metrics) = server.call("GET", "/metrics", Some(TOKEN), None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("exfee_account_cache_misses_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exfee_account_cache_hits_total 1\n"),
        "{metrics}"
    );
}
