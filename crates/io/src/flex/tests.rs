use exfee_model::{Exercise, InstrumentKind, OptionRight};

use super::*;

/// A plain open-positions header (column numbers in comments).
const POS: &str = "ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,\
UnderlyingSymbol,Multiplier,Strike,Expiry,Put/Call,Quantity,MarkPrice,PositionValue,LevelOfDetail";
//  1               2               3            4          5
//  6                7          8      9      10       11       12        13            14

const CASH: &str = "ClientAccountID,CurrencyPrimary,LevelOfDetail,EndingCash";

fn read(files: &[(&str, &str)], market: MarketData) -> Result<Batch, IoError> {
    let mut reader = FlexReader::default();
    for (name, text) in files {
        reader.read(name, text.as_bytes())?;
    }
    reader.finish(market).map(|r| r.batch)
}

fn ok(files: &[(&str, &str)]) -> Batch {
    read(files, MarketData::default()).expect("readable")
}

fn plain(rows: &[&str]) -> String {
    let mut text = POS.to_string();
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text
}

fn cur(code: &str) -> Currency {
    code.parse().unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

fn account<'b>(batch: &'b Batch, id: &str) -> &'b AccountInput {
    batch
        .accounts
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no account {id}"))
}

fn reasons(account: &AccountInput) -> Vec<String> {
    account.errors.iter().map(ToString::to_string).collect()
}

fn usd(batch: &Batch, code: &str) -> Decimal {
    batch.market.usd_per_unit(cur(code)).unwrap()
}

#[test]
fn header_data_layout_reads_every_section_and_skips_others() {
    let text = "\
\"HEADER\",\"POST\",\"ClientAccountID\",\"CurrencyPrimary\",\"FXRateToBase\",\"AssetClass\",\"Symbol\",\"Quantity\",\"MarkPrice\"
\"DATA\",\"POST\",\"U1\",\"USD\",\"1\",\"STK\",\"AAPL\",\"100\",\"245.30\"
\"DATA\",\"POST\",\"U1\",\"EUR\",\"1.08\",\"STK\",\"SAP\",\"10\",\"238.40\"
\"HEADER\",\"TRNT\",\"ClientAccountID\",\"Symbol\"
\"DATA\",\"TRNT\",\"U9\",\"AAPL\"
\"DATA\",\"STFU\",\"whatever\"
\"HEADER\",\"CRTT\",\"ClientAccountID\",\"CurrencyPrimary\",\"EndingCash\"
\"DATA\",\"CRTT\",\"U1\",\"BASE_SUMMARY\",\"-500\"
\"DATA\",\"CRTT\",\"U1\",\"USD\",\"-1000\"
\"DATA\",\"CRTT\",\"U1\",\"EUR\",\"500\"
\"HEADER\",\"EQUT\",\"ClientAccountID\",\"CurrencyPrimary\",\"Total\"
\"DATA\",\"EQUT\",\"U1\",\"USD\",\"1000\"
";
    let batch = ok(&[("r.csv", text)]);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert_eq!(batch.accounts.len(), 1, "trades are skipped");
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(u1.base_currency, Some(Currency::USD));
    assert_eq!(u1.positions.len(), 2);
    assert_eq!(u1.positions[1].instrument.currency, cur("EUR"));
    assert_eq!(
        u1.cash,
        vec![
            CashBalance {
                currency: Currency::USD,
                amount: dec("-1000")
            },
            CashBalance {
                currency: cur("EUR"),
                amount: dec("500")
            },
        ],
        "BASE_SUMMARY is skipped"
    );
    assert_eq!(usd(&batch, "EUR"), dec("1.08"));
}

#[test]
fn marker_layout_reads_sections_between_bos_and_eos() {
    let text = "\
\"BOF\",\"U1\",\"q\",\"1\",\"20261120\",\"20261120\",\"20261121;021503\",\"3\"
\"BOA\",\"U1\"
\"BOS\",\"POST\",\"Open Positions\"
\"ClientAccountID\",\"CurrencyPrimary\",\"FXRateToBase\",\"AssetClass\",\"Symbol\",\"Position\",\"MarkPrice\"
\"U1\",\"EUR\",\"1\",\"STK\",\"SAP\",\"10\",\"238.40\"
\"EOS\",\"POST\",\"1\"
\"BOS\",\"TRNT\",\"Trades\"
\"ClientAccountID\",\"Symbol\",\"Symbol\"
\"U9\",\"SAP\",\"SAP\"
\"EOS\",\"TRNT\",\"1\"
\"BOS\",\"CRTT\",\"Cash Report\"
\"ClientAccountID\",\"Currency\",\"LevelOfDetail\",\"EndingCash\"
\"U1\",\"EUR\",\"BaseCurrency\",\"77\"
\"U1\",\"EUR\",\"Currency\",\"77\"
\"EOS\",\"CRTT\",\"2\"
\"EOA\",\"U1\"
\"EOF\",\"1\",\"16\"
";
    let batch = ok(&[("m.csv", text)]);
    let u1 = account(&batch, "U1");
    assert_eq!(
        reasons(u1)[0],
        "m.csv line 5 column 2 (CurrencyPrimary): unknown currency EUR: no FXRateToBase in the \
         Flex files gives its rate and the market folder's fx.csv has none",
        "the base needs a rate"
    );
    let market = MarketData::with_fx([(cur("EUR"), dec("1.08"))]);
    let batch = read(&[("m.csv", text)], market).unwrap();
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(batch.accounts.len(), 1);
    assert_eq!(u1.base_currency, Some(cur("EUR")));
    assert_eq!(u1.positions[0].quantity, dec("10"), "older Position column");
    assert_eq!(u1.cash.len(), 1, "the BaseCurrency row is skipped");
    assert_eq!(
        usd(&batch, "EUR"),
        dec("1.08"),
        "from the market: no USD-based row"
    );
}

#[test]
fn header_data_rows_inside_bos_sections_are_read() {
    let text = "\
BOF,U1
BOS,POST,Open Positions
HEADER,POST,ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice
DATA,POST,U1,USD,1,STK,AAPL,3,245.30
EOS,POST
EOF
";
    let batch = ok(&[("both.csv", text)]);
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(u1.positions[0].quantity, dec("3"));
}

#[test]
fn plain_files_are_told_by_their_columns() {
    let positions = plain(&["U1,USD,1,STK,AAPL,,,,,,100,245.30,24530,"]);
    let cash = format!("\u{feff}{CASH}\nU1,USD,Currency,-5\nU1,BASE_SUMMARY,BaseCurrency,-5\n");
    let nav = "ClientAccountID,CurrencyPrimary,Total\nU1,USD,24525\n";
    let batch = ok(&[("p.csv", &positions), ("c.csv", &cash), ("n.csv", nav)]);
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(u1.positions.len(), 1);
    assert_eq!(u1.cash.len(), 1);
    assert_eq!(u1.base_currency, Some(Currency::USD));
}

#[test]
fn structural_problems_stop_the_run() {
    let not_flex = read(
        &[("x.csv", "account,symbol\nU1,AAPL\n")],
        MarketData::default(),
    );
    assert!(
        matches!(&not_flex, Err(IoError::BadHeader { path, reason }) if path == "x.csv" && reason.contains("not a Flex Query report")),
        "{not_flex:?}"
    );
    let early = read(
        &[("e.csv", "\"DATA\",\"POST\",\"U1\"\n")],
        MarketData::default(),
    );
    let message = early.unwrap_err().to_string();
    assert_eq!(
        message,
        "e.csv: line 1: DATA row of section POST before its HEADER row"
    );
    let missing = read(
        &[(
            "m.csv",
            "HEADER,POST,ClientAccountID,CurrencyPrimary,AssetClass,Symbol,MarkPrice\n",
        )],
        MarketData::default(),
    );
    assert!(
        matches!(
            &missing,
            Err(IoError::MissingColumn {
                column: "Quantity",
                ..
            })
        ),
        "{missing:?}"
    );
    let duplicate = read(
        &[(
            "d.csv",
            "HEADER,CRTT,ClientAccountID,EndingCash,EndingCash\n",
        )],
        MarketData::default(),
    );
    assert!(
        matches!(&duplicate, Err(IoError::DuplicateColumn { column, .. }) if column == "EndingCash"),
        "{duplicate:?}"
    );
    let stray = read(&[("s.csv", "BOF,U1\nU1,USD,5\n")], MarketData::default());
    assert!(
        stray
            .unwrap_err()
            .to_string()
            .contains("s.csv: line 2: \"U1\" is neither a marker"),
    );
}

#[test]
fn summary_rows_win_over_lot_rows() {
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,200,245.30,,LOT",
        "U1,USD,1,STK,AAPL,,,,,,300,245.30,,SUMMARY",
        "U1,USD,1,STK,AAPL,,,,,,100,245.30,,LOT",
        "U1,USD,1,CRYPTO,BTC,,,,,,0.3,95240,,LOT",
        "U1,USD,1,CRYPTO,BTC,,,,,,0.2,95240,,lot",
    ]);
    let batch = ok(&[("p.csv", &text)]);
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    let quantities: Vec<(&str, Decimal)> = u1
        .positions
        .iter()
        .map(|p| (p.instrument.symbol.as_str(), p.quantity))
        .collect();
    assert_eq!(
        quantities,
        vec![("AAPL", dec("300")), ("BTC", dec("0.5"))],
        "the summary is used, lots alone are summed"
    );
}

#[test]
fn summary_in_one_file_and_lots_in_another_count_once() {
    let lots = plain(&["U1,USD,1,STK,AAPL,,,,,,120,245.30,,LOT"]);
    let summary = plain(&["U1,USD,1,STK,AAPL,,,,,,120,245.30,,SUMMARY"]);
    let batch = ok(&[("lots.csv", &lots), ("summary.csv", &summary)]);
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(u1.positions.len(), 1);
    assert_eq!(u1.positions[0].quantity, dec("120"));
}

#[test]
fn a_position_listed_twice_fails_the_account() {
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,300,245.30,,SUMMARY",
        "U2,USD,1,STK,AAPL,,,,,,300,245.30,,SUMMARY",
    ]);
    // The same report given twice stops the run: nothing is counted twice.
    let twice = read(&[("a.csv", &text), ("b.csv", &text)], MarketData::default());
    assert_eq!(
        twice.err().map(|e| e.to_string()).as_deref(),
        Some(
            "b.csv: the same content as a.csv (identical files): its positions and cash would \
             be counted twice; give each report once"
        )
    );
    // Two reports listing the same positions (here with one more line end).
    let again = format!("{text}\n");
    let batch = ok(&[("a.csv", &text), ("b.csv", &again)]);
    for id in ["U1", "U2"] {
        let errors = reasons(account(&batch, id));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("b.csv line "), "{errors:?}");
        assert!(
            errors[0]
                .contains("position AAPL is listed twice (SUMMARY rows here and at a.csv line "),
            "{errors:?}"
        );
    }
    let cash = format!("{CASH}\nU1,USD,Currency,5\nU1,USD,Currency,5\n");
    let batch = ok(&[
        ("p.csv", &plain(&["U1,USD,1,STK,AAPL,,,,,,1,1,,"])),
        ("c.csv", &cash),
    ]);
    assert_eq!(
        reasons(account(&batch, "U1")),
        vec![
            "c.csv line 3 column 2 (CurrencyPrimary): second cash-report row for USD (first at \
             c.csv line 2 column 2 (CurrencyPrimary)); exfee never counts cash twice"
        ]
    );
}

#[test]
fn lots_that_disagree_on_the_mark_fail_the_account() {
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,200,245.30,,LOT",
        "U1,USD,1,STK,AAPL,,,,,,100,245.31,,LOT",
    ]);
    let batch = ok(&[("p.csv", &text)]);
    let u1 = account(&batch, "U1");
    assert_eq!(
        reasons(u1),
        vec![
            "p.csv line 3 column 12 (MarkPrice): LOT rows of AAPL disagree on MarkPrice: 245.31 \
             here, 245.30 at p.csv line 2 column 12 (MarkPrice)"
        ]
    );
    assert!(u1.positions.is_empty());
}

#[test]
fn option_expiries_in_every_format_give_the_same_position() {
    let formats = [
        "20270115",
        "2027-01-15",
        "01/15/2027",
        "15-Jan-27",
        "2027/01/15",
    ];
    let mut instruments = Vec::new();
    for (i, expiry) in formats.iter().enumerate() {
        let text = plain(&[
            "U1,USD,1,STK,AAPL,,,,,,1,1,,",
            &format!("U1,USD,1,OPT,AAPL  270115C00260000,AAPL,100,260,{expiry},C,-5,4.81,,"),
        ]);
        let batch = ok(&[(&format!("f{i}.csv"), &text)]);
        let u1 = account(&batch, "U1");
        assert!(u1.errors.is_empty(), "{expiry}: {:?}", reasons(u1));
        instruments.push(u1.positions[1].instrument.clone());
    }
    let InstrumentKind::Option {
        underlying,
        on_future,
        terms,
    } = &instruments[0].kind
    else {
        panic!("not an option: {:?}", instruments[0]);
    };
    assert_eq!(underlying, "AAPL");
    assert!(!on_future);
    assert_eq!(terms.expiry, NaiveDate::from_ymd_opt(2027, 1, 15).unwrap());
    assert_eq!(terms.right, OptionRight::Call);
    assert_eq!(terms.exercise, Exercise::American);
    assert_eq!(terms.strike, dec("260"));
    assert!(instruments.iter().all(|i| *i == instruments[0]));
}

#[test]
fn a_bad_date_is_located() {
    let text = plain(&["U1,USD,1,FOP,ESH7 P6500,ES,50,6500,19/13/2027,P,3,85.25,,"]);
    let batch = ok(&[("p.csv", &text)]);
    let errors = reasons(account(&batch, "U1"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "p.csv line 2 column 9 (Expiry): \"19/13/2027\" is not a date (yyyyMMdd, yyyy-MM-dd"
        ),
        "{errors:?}"
    );
}

#[test]
fn instruments_map_to_what_exfee_prices() {
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        "U1,USD,1,FUND,VFIAX,,,,,,2,612.35,,",
        "U1,USD,1,FUT,CLF7,CL,1000,,20261221,,2,70.12,,",
        "U1,USD,1,FUT,ESZ6,,50,,,,1,6812.5,,",
        "U1,USD,1,FOP,ESH7 P6500,ES,50,6500,20270319,P,3,85.25,,",
        "U1,USD,1,CRYPTO,BTC,,,,,,0.5,95240,,",
        "U1,USD,1,BOND,T 4.25 11/15/34,,1,,,,200000,97.85,195700,",
        "U1,USD,1,BILL,B 0 03/19/27,,,,,,50000,98.92,,",
        "U1,USD,1,BOND,XS123,,0.01,,,,200000,97.85,195700.00,",
    ]);
    let batch = ok(&[("p.csv", &text)]);
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    let classes: Vec<&str> = u1
        .positions
        .iter()
        .map(|p| p.instrument.asset_class().code())
        .collect();
    assert_eq!(
        classes,
        [
            "STK", "STK", "FUT", "FUT", "FOP", "CRYPTO", "BOND", "BOND", "BOND"
        ]
    );
    assert_eq!(
        u1.positions[2].instrument.kind,
        InstrumentKind::Future {
            underlying: "CL".into(),
            expiry: NaiveDate::from_ymd_opt(2026, 12, 21)
        }
    );
    assert_eq!(
        u1.positions[3].instrument.kind,
        InstrumentKind::Future {
            underlying: "ESZ6".into(),
            expiry: None
        },
        "a future without underlying is on itself"
    );
    let InstrumentKind::Option {
        on_future: true,
        terms,
        ..
    } = &u1.positions[4].instrument.kind
    else {
        panic!("{:?}", u1.positions[4]);
    };
    assert_eq!(terms.right, OptionRight::Put);
    // Bonds: quoted per 100 of face, whatever the file's multiplier says.
    for (i, value) in [(6, "195700"), (7, "49460"), (8, "195700")] {
        let p = &u1.positions[i];
        assert_eq!(
            p.instrument.market_value(p.quantity),
            Some(dec(value)),
            "{p:?}"
        );
    }
}

#[test]
fn a_bond_whose_value_matches_no_quote_convention_is_an_error() {
    let text = plain(&["U1,USD,1,BOND,T 4.25 11/15/34,,1,,,,200000,97.85,1957,"]);
    let batch = ok(&[("p.csv", &text)]);
    let errors = reasons(account(&batch, "U1"));
    assert_eq!(
        errors,
        vec![
            "p.csv line 2 column 13 (PositionValue): PositionValue 1957 matches neither \
             Quantity × Multiplier × MarkPrice (19570000) nor that per 100 of face (195700)"
        ]
    );
}

#[test]
fn classes_exfee_cannot_price_fail_only_their_account() {
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        "U1,USD,1,WAR,XYZ 12DEC27 10 C,XYZ,1,10,20271212,C,100,1.5,,",
        "U2,USD,1,CASH,EUR.USD,,,,,,10000,1.08,,",
        "U3,USD,1,CFD,IBUS500,,,,,,1,6800,,",
        "U4,USD,1,CMDTY,XAUUSD,,,,,,1,4200,,",
        "U5,USD,1,STK,MSFT,,,,,,1,482.15,,",
        "U6,USD,1,STK,AAPL,,,,,,1,1,,",
        "U6,USD,1,XYZ,ODD,,,,,,1,1,,",
    ]);
    let batch = ok(&[("p.csv", &text)]);
    assert_eq!(
        reasons(account(&batch, "U1")),
        vec!["p.csv line 3 column 4 (AssetClass): asset class WAR is not priced by exfee yet"]
    );
    assert!(account(&batch, "U1").positions.len() == 1);
    for (id, class) in [("U2", "CASH"), ("U3", "CFD"), ("U4", "CMDTY")] {
        let errors = reasons(account(&batch, id));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].ends_with(&format!(
                "column 4 (AssetClass): asset class {class} is not priced by exfee yet"
            )),
            "{errors:?}"
        );
    }
    assert!(account(&batch, "U5").errors.is_empty());
    assert_eq!(
        reasons(account(&batch, "U6")),
        vec![
            "p.csv line 9 column 4 (AssetClass): unknown asset class \"XYZ\" (Flex classes: STK, \
             OPT, FUT, FOP, CASH, BOND, BILL, WAR, CFD, CRYPTO, FUND, CMDTY)"
        ]
    );
}

#[test]
fn every_problem_of_a_bad_row_is_located_and_fails_only_its_account() {
    let text = "\
HEADER,POST,ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,UnderlyingSymbol,Multiplier,Strike,Expiry,Put/Call,Quantity,MarkPrice,LevelOfDetail
DATA,POST,U1,USD,1,STK,AAPL,,,,,,100,245.30,SUMMARY
DATA,POST,U2,USD,1,OPT,AAPL 270115X260,,0,-5,2027-02-30,X,ten,-4.81,PARTIAL
DATA,POST,U2,USD,1,STK,MSFT,,,,,,1,482.15,
DATA,POST,,USD,1,STK,MSFT,,,,,,1,482.15,
DATA,POST,U3,USD,1,STK,MSFT,,,,,,1
";
    let batch = ok(&[("bad.csv", text)]);
    assert!(account(&batch, "U1").errors.is_empty());
    assert_eq!(
        reasons(account(&batch, "U2")),
        vec![
            "bad.csv line 3 column 15 (LevelOfDetail): \"PARTIAL\" is not SUMMARY or LOT",
            "bad.csv line 3 column 13 (Quantity): \"ten\" is not a decimal number (plain \
             notation like 1234.56, at most 28 significant digits)",
            "bad.csv line 3 column 9 (Multiplier): zero multiplier",
            "bad.csv line 3 column 14 (MarkPrice): negative price -4.81",
            "bad.csv line 3 column 8 (UnderlyingSymbol): missing value",
            "bad.csv line 3 column 10 (Strike): negative strike -5",
            "bad.csv line 3 column 11 (Expiry): \"2027-02-30\" is not a date (yyyyMMdd, \
             yyyy-MM-dd, yyyy/MM/dd, MM/dd/yyyy, dd/MM/yyyy, MM/dd/yy, dd/MM/yy or dd-MMM-yy)",
            "bad.csv line 3 column 12 (Put/Call): \"X\" is not P or C",
        ]
    );
    assert_eq!(account(&batch, "U2").positions.len(), 1);
    let errors: Vec<String> = batch.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        vec![
            "bad.csv line 5 column 3 (ClientAccountID): missing value",
            "bad.csv line 6: row has 13 fields but the header has 15",
        ]
    );
    assert!(batch.accounts.iter().all(|a| a.id != "U3"));
}

#[test]
fn base_currency_comes_from_the_nav_section_first() {
    let positions = plain(&[
        // FXRateToBase 1 for two currencies: ambiguous without the NAV.
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        "U1,HKD,1,STK,700,,,,,,1,1,,",
        "U2,EUR,1,STK,SAP,,,,,,1,1,,",
    ]);
    let nav = "ClientAccountID,CurrencyPrimary,Total\nU1,USD,1\n";
    let market = MarketData::with_fx([(cur("EUR"), dec("1.08")), (cur("HKD"), dec("0.128"))]);
    let batch = read(&[("p.csv", &positions), ("n.csv", nav)], market.clone()).unwrap();
    assert_eq!(account(&batch, "U1").base_currency, Some(Currency::USD));
    assert_eq!(account(&batch, "U2").base_currency, Some(cur("EUR")));
    assert!(account(&batch, "U1").errors.is_empty());
    assert_eq!(
        usd(&batch, "HKD"),
        Decimal::ONE,
        "as the USD account's file says"
    );

    let batch = read(&[("p.csv", &positions)], market).unwrap();
    let errors = reasons(account(&batch, "U1"));
    assert_eq!(
        errors,
        vec![
            "base currency of account U1 ambiguous: FXRateToBase is 1 for USD (at p.csv line 2 \
             column 3 (FXRateToBase)) and HKD (at p.csv line 3 column 3 (FXRateToBase)) (add the \
             NAV section, EQUT, to the Flex Query)"
        ]
    );
    assert_eq!(account(&batch, "U1").base_currency, None);
}

#[test]
fn base_currency_problems_fail_the_account() {
    let positions = plain(&[
        "U1,EUR,1.08,STK,SAP,,,,,,1,1,,",
        "U2,EUR,0.9,STK,SAP,,,,,,1,1,,",
        "U3,USD,1,STK,AAPL,,,,,,1,1,,",
    ]);
    let nav = "\
ClientAccountID,CurrencyPrimary,Total
U2,EUR,1
U3,USD,1
U3,EUR,1
";
    let market = MarketData::with_fx([(cur("EUR"), dec("1.08"))]);
    let batch = read(&[("p.csv", &positions), ("n.csv", nav)], market).unwrap();
    assert_eq!(
        reasons(account(&batch, "U1")),
        vec![
            "base currency of account U1 unknown: the files have no NAV (EQUT) row with a \
             currency for it and none of its rows has FXRateToBase 1 (add the NAV section to the \
             Flex Query)"
        ]
    );
    assert_eq!(
        reasons(account(&batch, "U2")),
        vec![
            "p.csv line 3 column 3 (FXRateToBase): FXRateToBase of EUR, the account's base \
             currency, must be 1, got 0.9"
        ]
    );
    assert_eq!(
        reasons(account(&batch, "U3")),
        vec![
            "n.csv line 4 column 2 (CurrencyPrimary): the NAV section gives account U3 two base \
             currencies: USD (at n.csv line 3 column 2 (CurrencyPrimary)) and EUR"
        ]
    );
}

#[test]
fn fx_rates_come_from_the_files_then_the_market_folder() {
    let positions = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        "U1,EUR,1.08,STK,SAP,,,,,,1,1,,",
        "U2,EUR,1,STK,SAP,,,,,,1,1,,",
        "U2,CHF,1.05,STK,NESN,,,,,,1,1,,",
        "U2,GBP,1.17,STK,HSBA,,,,,,1,1,,",
        "U3,GBP,1,STK,HSBA,,,,,,1,1,,",
        "U3,USD,0.8,STK,AAPL,,,,,,1,1,,",
        "U3,SEK,0.08,STK,ERIC,,,,,,1,1,,",
    ]);
    let cash = format!("{CASH}\nU1,JPY,Currency,1000000\nU1,NOK,Currency,1\n");
    let market = MarketData::with_fx([
        (cur("EUR"), dec("1.10")),
        (cur("JPY"), dec("0.0067")),
        (cur("CHF"), dec("1.2")),
    ]);
    let batch = read(&[("p.csv", &positions), ("c.csv", &cash)], market).unwrap();
    assert_eq!(usd(&batch, "EUR"), dec("1.08"), "USD-based rows win");
    assert_eq!(usd(&batch, "CHF"), dec("1.134"), "cross rate 1.05 × 1.08");
    assert_eq!(
        usd(&batch, "GBP"),
        dec("1.25"),
        "from the USD row of a GBP account"
    );
    assert_eq!(usd(&batch, "SEK"), dec("0.1"), "0.08 × 1.25");
    assert_eq!(
        usd(&batch, "JPY"),
        dec("0.0067"),
        "the market fills the gaps"
    );
    assert!(account(&batch, "U2").errors.is_empty());
    assert!(account(&batch, "U3").errors.is_empty());
    assert_eq!(
        reasons(account(&batch, "U1")),
        vec![
            "c.csv line 3 column 2 (CurrencyPrimary): unknown currency NOK: no FXRateToBase in \
             the Flex files gives its rate and the market folder's fx.csv has none"
        ]
    );
}

#[test]
fn files_that_disagree_on_a_rate_make_the_currency_unusable() {
    let positions = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        "U1,EUR,1.08,STK,SAP,,,,,,1,1,,",
        "U2,USD,1,STK,AAPL,,,,,,1,1,,",
        "U2,EUR,1.09,STK,SAP,,,,,,1,1,,",
        "U3,USD,1,STK,AAPL,,,,,,1,1,,",
        "U3,EUR,1.0800,STK,SIE,,,,,,1,1,,",
        "U4,USD,1,STK,AAPL,,,,,,1,1,,",
    ]);
    let batch = read(&[("p.csv", &positions)], MarketData::default()).unwrap();
    let reason = "p.csv line 3 column 2 (CurrencyPrimary): no usable FX rate for EUR: p.csv line \
                  5 column 3 (FXRateToBase): FXRateToBase of EUR to USD is 1.09 here but 1.08 at \
                  p.csv line 3 column 3 (FXRateToBase): the files disagree";
    assert_eq!(reasons(account(&batch, "U1")), vec![reason]);
    assert_eq!(reasons(account(&batch, "U2")).len(), 1);
    assert_eq!(reasons(account(&batch, "U3")).len(), 1);
    assert!(account(&batch, "U4").errors.is_empty());
}

#[test]
fn read_flex_expands_folders_and_reports_unreadable_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b-cash.csv"),
        format!("{CASH}\nU1,USD,Currency,10\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a-positions.CSV"),
        plain(&["U1,USD,1,STK,AAPL,,,,,,1,1,,"]),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not read").unwrap();
    std::fs::write(dir.path().join(".hidden.csv"), "not read").unwrap();
    let batch = read_flex(&[dir.path().to_path_buf()], MarketData::default()).unwrap();
    let u1 = account(&batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!((u1.positions.len(), u1.cash.len()), (1, 1));

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        read_flex(&[empty.path().to_path_buf()], MarketData::default()),
        Err(IoError::Unreadable { .. })
    ));
    assert!(matches!(
        read_flex(&[dir.path().join("missing.csv")], MarketData::default()),
        Err(IoError::Unreadable { .. })
    ));
}

/// Found by fuzzing (`fuzz/regressions/flex/subtraction-overflow`): a bond's
/// `PositionValue` near the Decimal limit made the check of the per-100
/// quote subtract past the range and panic. It is now an error of the row.
#[test]
fn a_bond_position_value_at_the_decimal_limit_is_an_error_not_a_panic() {
    for value in [
        "-79228162514264337593543950335",
        "79228162514264337593543950335",
    ] {
        let text = plain(&[&format!("U1,USD,1,BOND,T 1,,1,,,,100,100,{value},")]);
        let batch = ok(&[("b.csv", &text)]);
        let u1 = account(&batch, "U1");
        assert!(u1.positions.is_empty());
        assert!(
            reasons(u1)
                .iter()
                .any(|r| r.contains("(PositionValue): PositionValue")),
            "{:?}",
            reasons(u1)
        );
    }
}

#[test]
fn rows_over_the_size_limits_fail_their_account_or_stop_the_file() {
    use crate::{MAX_FIELD_BYTES, MAX_POSITIONS_PER_ACCOUNT};
    let long = "S".repeat(MAX_FIELD_BYTES + 1);
    // A data row: an error of its (known) account, located at the field.
    let text = plain(&[
        "U1,USD,1,STK,AAPL,,,,,,1,1,,",
        &format!("U1,USD,1,STK,{long},,,,,,1,1,,"),
        "U2,USD,1,STK,AAPL,,,,,,1,1,,",
    ]);
    let batch = ok(&[("p.csv", &text)]);
    assert_eq!(
        reasons(account(&batch, "U1")),
        [
            "p.csv line 3 column 5 (Symbol): field longer than 65536 bytes (the limit per field); \
          the row is not read"
        ]
    );
    assert!(account(&batch, "U2").errors.is_empty());
    // A header or marker line: the file cannot be read.
    let header = format!("ClientAccountID,{long}\nU1,1\n");
    assert!(read(&[("h.csv", &header)], MarketData::default()).is_err());
    let marker = format!("BOF,{long}\nHEADER,POST,ClientAccountID\n");
    let err = read(&[("m.csv", &marker)], MarketData::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("m.csv: line 1: column 2: field longer than"),
        "{err}"
    );

    // Past the position limit the account fails; its further rows are skipped.
    let mut rows = vec!["U1,USD,1,STK,AAPL,,,,,,1,1,,LOT"; MAX_POSITIONS_PER_ACCOUNT + 3];
    rows.push("U2,USD,1,STK,AAPL,,,,,,1,1,,");
    let batch = ok(&[("big.csv", &plain(&rows))]);
    let u1 = account(&batch, "U1");
    assert_eq!(
        reasons(u1),
        [format!(
            "big.csv line {} column 1 (ClientAccountID): account U1 has more than \
             {MAX_POSITIONS_PER_ACCOUNT} positions, the limit per account; its rows from here \
             on are not read",
            MAX_POSITIONS_PER_ACCOUNT + 2
        )]
    );
    assert!(account(&batch, "U2").errors.is_empty());
}

// ---------------------------------------------------------------------------
// Real-export quirks: each sample under examples/flex/quirks/.

fn sample(name: &str) -> String {
    let path = format!(
        "{}/../../examples/flex/quirks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn report(files: &[(&str, &str)], market: MarketData) -> Result<FlexRead, IoError> {
    let mut reader = FlexReader::default();
    for (name, text) in files {
        reader.read(name, text.as_bytes())?;
    }
    reader.finish(market)
}

fn report_ok(files: &[(&str, &str)]) -> FlexRead {
    report(files, MarketData::default()).expect("readable")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn nlv(read: &FlexRead, id: &str) -> Decimal {
    exfee_model::net_liquidation_value(account(&read.batch, id), &read.batch.market).unwrap()
}

#[test]
fn cash_given_only_as_the_base_summary_is_the_base_currency_cash() {
    let text = sample("base-summary-cash.csv");
    let read = report_ok(&[("b.csv", &text)]);
    let u = account(&read.batch, "U3300001");
    assert!(u.errors.is_empty(), "{:?}", reasons(u));
    assert_eq!(
        u.cash,
        vec![CashBalance {
            currency: Currency::USD,
            amount: dec("-5000")
        }]
    );
    // 100 × 245.30 + 10 × 238.40 × 1.08 − 5,000 = 22,104.72, the broker's NAV.
    assert_eq!(nlv(&read, "U3300001"), dec("22104.72"));
    assert_eq!(
        read.accounts[0].broker_nav.as_ref().map(|n| n.total),
        Some(dec("22104.72"))
    );
}

#[test]
fn the_base_summary_is_ignored_when_the_currencies_are_broken_out() {
    let text = sample("msg-and-single-account.csv");
    let read = report_ok(&[("s.csv", &text)]);
    let u = account(&read.batch, "U3300005");
    assert_eq!(
        u.cash,
        vec![
            CashBalance {
                currency: cur("EUR"),
                amount: dec("-1500")
            },
            CashBalance {
                currency: Currency::USD,
                amount: dec("540.79")
            },
        ],
        "the BASE_SUMMARY row (-1000) is not counted as well"
    );
}

#[test]
fn a_msg_line_and_a_single_account_query_without_client_account_id_are_read() {
    let text = sample("msg-and-single-account.csv");
    let read = report_ok(&[("s.csv", &text)]);
    assert!(read.batch.errors.is_empty(), "{:?}", read.batch.errors);
    assert_eq!(read.batch.accounts.len(), 1);
    let u = account(&read.batch, "U3300005");
    assert!(u.errors.is_empty(), "{:?}", reasons(u));
    // The NAV rows carry no currency: the base is Account Information's.
    assert_eq!(u.base_currency, Some(cur("EUR")));
    assert_eq!(u.positions.len(), 2);
    assert_eq!(u.positions[1].quantity, dec("20"));
    // 50 × 238.40 + 20 × 245.30 × 0.92464 − 1,500 + 540.79 × 0.92464
    // = 11,920 + 4,536.28384 − 1,500 + 500.0360... ≈ 15,456.32.
    let value = nlv(&read, "U3300005");
    assert!((value - dec("15456.3199")).abs() < dec("0.001"), "{value}");
    assert_eq!(read.report_date, Some(date(2026, 11, 20)));
}

#[test]
fn rows_without_an_account_column_and_no_single_account_fail_as_rows() {
    let text = "\
HEADER,ACCT,ClientAccountID,CurrencyPrimary
DATA,ACCT,U1,USD
DATA,ACCT,U2,USD
HEADER,POST,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice
DATA,POST,USD,1,STK,AAPL,1,245.30
";
    let read = report_ok(&[("two.csv", text)]);
    assert_eq!(read.batch.errors.len(), 1, "{:?}", read.batch.errors);
    assert!(
        read.batch.errors[0]
            .to_string()
            .starts_with("two.csv line 5: the row names no account"),
        "{}",
        read.batch.errors[0]
    );
    // A single-account BOF line names the account too.
    let text = "\
BOF,U7,q,1,20261120,20261120
BOS,POST,Open Positions
CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice
USD,1,STK,AAPL,3,245.30
EOS,POST
EOF
";
    let read = report_ok(&[("bof.csv", text)]);
    let u7 = account(&read.batch, "U7");
    assert!(u7.errors.is_empty(), "{:?}", reasons(u7));
    assert_eq!(u7.positions[0].quantity, dec("3"));
    assert_eq!(read.accounts[0].report_date, Some(date(2026, 11, 20)));
}

#[test]
fn day_first_dates_are_inferred_from_the_files_own_unambiguous_dates() {
    let text = sample("day-first.csv");
    let read = report_ok(&[("d.csv", &text)]);
    let u = account(&read.batch, "U3300002");
    assert!(u.errors.is_empty(), "{:?}", reasons(u));
    let InstrumentKind::Option { terms, .. } = &u.positions[1].instrument.kind else {
        panic!("not an option");
    };
    // 08/01/2027 in a file whose ReportDate is 20/11/2026: 8 January.
    assert_eq!(terms.expiry, date(2027, 1, 8));
    assert_eq!(read.report_date, Some(date(2026, 11, 20)));
    // The same text in a file whose dates prove month-first: 1 August.
    let month_first = text
        .replace("20/11/2026", "11/20/2026")
        .replace("19/11/2026", "11/19/2026")
        .replace("21/11/2026", "11/21/2026");
    let read = report_ok(&[("m.csv", &month_first)]);
    let u = account(&read.batch, "U3300002");
    assert!(u.errors.is_empty(), "{:?}", reasons(u));
    let InstrumentKind::Option { terms, .. } = &u.positions[1].instrument.kind else {
        panic!("not an option");
    };
    assert_eq!(terms.expiry, date(2027, 8, 1));
}

#[test]
fn dates_that_cannot_be_told_apart_fail_the_rows_that_need_them() {
    let text = sample("ambiguous-dates.csv");
    let read = report_ok(&[("a.csv", &text)]);
    let u = account(&read.batch, "U3300003");
    assert_eq!(
        reasons(u),
        vec![
            "a.csv line 6 column 9 (Expiry): ambiguous date format: 2027-08-01 (MM/dd) or \
             2027-01-08 (dd/MM), and no date of the file has a day above 12 to tell (use \
             yyyyMMdd in the Flex Query)"
        ]
    );
    // The BOF dates (06/11/2026) read both ways too, and no row has a date:
    // the account's report date is unknown rather than guessed.
    assert!(read.accounts[0].report_date.is_none());
    // A file with dates of both orders does not decide either.
    let mixed = text
        .replace(
            "\"06/11/2026\",\"06/11/2026\"",
            "\"06/11/2026\",\"11/20/2026\"",
        )
        .replace(
            "\"EOS\",\"POST\",\"2\"",
            "\"U3300003\",\"USD\",\"1\",\"OPT\",\"AAPL  270120C00250000\",\"AAPL\",\"100\",\
             \"250\",\"20/01/2027\",\"C\",\"-1\",\"5.10\",\"SUMMARY\"\n\"EOS\",\"POST\",\"3\"",
        );
    let read = report_ok(&[("x.csv", &mixed)]);
    let errors = reasons(account(&read.batch, "U3300003"));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("ambiguous date format") && e.contains("both a day-first date")),
        "{errors:?}"
    );
}

#[test]
fn a_header_repeated_per_account_is_skipped() {
    let text = sample("repeated-header.csv");
    let market = MarketData::with_fx([(cur("EUR"), dec("1.08"))]);
    let read = report(&[("r.csv", &text)], market).unwrap();
    let ids: Vec<&str> = read.batch.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["U3300004", "U3300014", "U3300024"]);
    assert!(read.batch.errors.is_empty(), "{:?}", read.batch.errors);
    for account in &read.batch.accounts {
        assert!(account.errors.is_empty(), "{:?}", reasons(account));
    }
    assert_eq!(account(&read.batch, "U3300004").positions.len(), 2);
}

#[test]
fn several_report_dates_use_each_accounts_latest() {
    let text = sample("daily-breakout.csv");
    let read = report_ok(&[("daily.csv", &text)]);
    let u = account(&read.batch, "U3300006");
    assert!(u.errors.is_empty(), "{:?}", reasons(u));
    // 20 November: AAPL 100 (MSFT was sold on the 20th), cash −2,000.
    let held: Vec<(&str, Decimal)> = u
        .positions
        .iter()
        .map(|p| (p.instrument.symbol.as_str(), p.quantity))
        .collect();
    assert_eq!(held, vec![("AAPL", dec("100"))]);
    assert_eq!(u.cash[0].amount, dec("-2000"));
    assert_eq!(read.accounts[0].report_date, Some(date(2026, 11, 20)));
    assert_eq!(
        read.accounts[0].broker_nav.as_ref().map(|n| n.total),
        Some(dec("22530"))
    );
    assert_eq!(nlv(&read, "U3300006"), dec("22530"));
}

#[test]
fn an_empty_or_section_less_report_stops_the_run() {
    for (name, reason) in [
        ("stops/empty.csv", "the file is empty"),
        ("stops/no-sections.csv", "has no Open Positions (POST)"),
    ] {
        let text = sample(name);
        let error = report(&[(name, &text)], MarketData::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{name}: {error}");
    }
    let blank = report(&[("blank.csv", "\n\r\n  \n")], MarketData::default());
    let error = blank.unwrap_err().to_string();
    assert!(error.contains("the file is empty"), "{error}");
    let text = sample("stops/no-positions.csv");
    let error = report(&[("n.csv", &text)], MarketData::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no report has an Open Positions section"),
        "{error}"
    );
}

#[test]
fn an_account_whose_statement_lacks_a_section_fails() {
    let text = sample("missing-section.csv");
    let read = report_ok(&[("m.csv", &text)]);
    assert!(account(&read.batch, "U3300008").errors.is_empty());
    assert_eq!(
        reasons(account(&read.batch, "U3300018")),
        vec![
            "m.csv line 12: the statement of account U3300018 has no Cash Report section, \
             which other statements of the run have: its cash would be missing"
        ]
    );
}

#[test]
fn the_nav_check_fails_an_account_whose_nav_disagrees() {
    let text = sample("nav-mismatch.csv");
    let mut read = report_ok(&[("nav.csv", &text)]);
    let checks = reconcile_nav(&mut read, NavTolerance::default());
    assert_eq!(
        reasons(account(&read.batch, "U3300007")),
        vec![
            "nav.csv line 6 column 6 (Total): NLV 50,000.00 from positions and cash, broker NAV \
             10,000.00: a section or row was not counted (difference 40,000.00, tolerance 5.00)"
        ]
    );
    assert_eq!(
        checks,
        vec![NavCheck {
            account: "U3300007".into(),
            currency: Some(Currency::USD),
            nlv: Some(dec("50000")),
            broker_nav: Some(dec("10000")),
            difference: Some(dec("40000")),
            tolerance: Some(dec("5")),
            status: "mismatch",
        }]
    );
    // Within a wider tolerance it passes.
    let mut read = report_ok(&[("nav.csv", &text)]);
    let wide = NavTolerance {
        units: dec("40000"),
        fraction: Decimal::ZERO,
    };
    assert_eq!(reconcile_nav(&mut read, wide)[0].status, "ok");
    assert!(account(&read.batch, "U3300007").errors.is_empty());
}

#[test]
fn the_nav_tolerance_is_the_larger_of_one_unit_and_a_hundredth_of_a_percent() {
    let tolerance = NavTolerance::default();
    assert_eq!(tolerance.for_nlv(dec("5000")), dec("1"));
    assert_eq!(tolerance.for_nlv(dec("-2000000")), dec("200"));
    // NLV 100 × 50 = 5,000: a NAV 1.00 off passes, 1.01 off fails.
    let text = |total: &str| {
        format!(
            "HEADER,POST,ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice\n\
             DATA,POST,U1,USD,1,STK,X,100,50\n\
             HEADER,EQUT,ClientAccountID,CurrencyPrimary,Total\n\
             DATA,EQUT,U1,USD,{total}\n"
        )
    };
    for (total, status) in [("4999.00", "ok"), ("4998.99", "mismatch"), ("5001", "ok")] {
        let text = text(total);
        let mut read = report_ok(&[("t.csv", &text)]);
        assert_eq!(
            reconcile_nav(&mut read, tolerance)[0].status,
            status,
            "{total}"
        );
    }
}

// ---------------------------------------------------------------------------
// Flex XML.

/// A reader that hands out one byte at a time: every buffer boundary.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&byte, rest)), Some(slot)) => {
                *slot = byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<FlexQueryResponse queryName="q" type="AF">
<FlexStatements count="2">
<FlexStatement accountId="U1" fromDate="20261120" toDate="20261120" whenGenerated="20261121;021503">
<AccountInformation accountId="U1" currency="EUR" />
<OpenPositions>
<OpenPosition currency="EUR" fxRateToBase="1" assetCategory="STK" symbol="SAP"
    position="10" markPrice="238.40" levelOfDetail="SUMMARY" />
<OpenPosition accountId="U1" currency="EUR" fxRateToBase="1" assetCategory="FUT" symbol="FGBLZ6"
    underlyingSymbol="GBL" multiplier="1000" expiry="20261208" position="-3" markPrice="128.45" levelOfDetail="SUMMARY" />
</OpenPositions>
<CashReport>
<CashReportCurrency accountId="U1" currency="BASE_SUMMARY" levelOfDetail="BaseCurrency" endingCash="700" />
</CashReport>
<EquitySummaryInBase>
<EquitySummaryByReportDateInBase accountId="U1" reportDate="MULTI" total="1" />
<EquitySummaryByReportDateInBase accountId="U1" reportDate="20261120" total="3084.00" />
</EquitySummaryInBase>
<ConversionRates>
<ConversionRate reportDate="20261120" fromCurrency="USD" toCurrency="EUR" rate="0.92464" />
<ConversionRate reportDate="20261120" fromCurrency="XAU" toCurrency="EUR" rate="-1" />
</ConversionRates>
</FlexStatement>
<FlexStatement accountId="U2" fromDate="20261120" toDate="20261120" whenGenerated="20261121;021503">
<OpenPositions>
<OpenPosition accountId="U2" currency="USD" fxRateToBase="1" assetCategory="STK" symbol="AAPL"
    position="5" markPrice="-245.30" levelOfDetail="SUMMARY" />
</OpenPositions><CashReport/>
</FlexStatement>
</FlexStatements>
</FlexQueryResponse>
"#;

#[test]
fn xml_reports_are_read_with_the_csv_rules_and_located_errors() {
    let mut reader = FlexReader::default();
    reader.read("r.xml", Trickle(XML.as_bytes())).unwrap();
    let read = reader.finish(MarketData::default()).unwrap();
    // A byte-order mark and blank lines before the declaration, read a
    // byte at a time, still make an XML report.
    let padded = format!("\u{feff}\n \n{XML}");
    let mut reader = FlexReader::default();
    reader.read("p.xml", Trickle(padded.as_bytes())).unwrap();
    let padded = reader.finish(MarketData::default()).unwrap();
    assert_eq!(padded.batch.accounts.len(), 2);
    let u1 = account(&read.batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    // Account Information gives the base; the statement the account of a
    // row without accountId.
    assert_eq!(u1.base_currency, Some(cur("EUR")));
    assert_eq!(u1.positions.len(), 2);
    assert_eq!(u1.positions[0].quantity, dec("10"));
    let InstrumentKind::Future { underlying, expiry } = &u1.positions[1].instrument.kind else {
        panic!("not a future");
    };
    assert_eq!(underlying, "GBL");
    assert_eq!(*expiry, Some(date(2026, 12, 8)));
    assert_eq!(u1.positions[1].instrument.multiplier, dec("1000"));
    // Only the base summary: 700 EUR of cash.
    assert_eq!(
        u1.cash,
        vec![CashBalance {
            currency: cur("EUR"),
            amount: dec("700")
        }]
    );
    // EUR in USD from the conversion rate USD→EUR (1 / 0.92464); the
    // unusable XAU rate (-1) is left out.
    assert_eq!(usd(&read.batch, "EUR"), Decimal::ONE / dec("0.92464"));
    // 10 × 238.40 + 700 = 3,084 (a future adds no value): the NAV of the
    // dated row; the MULTI row (a summary over dates) is not the day's NAV.
    assert_eq!(read.accounts[0].report_date, Some(date(2026, 11, 20)));
    assert_eq!(
        read.accounts[0].broker_nav,
        Some(BrokerNav {
            total: dec("3084.00"),
            location: SourceLocation {
                file: "r.xml".into(),
                line: 17,
                column: Some((3, "total".into())),
            },
        })
    );
    assert_eq!(nlv(&read, "U1"), dec("3084.00"));
    let u2 = account(&read.batch, "U2");
    assert_eq!(
        reasons(u2),
        vec!["r.xml line 26 column 7 (markPrice): negative price -245.30"],
        "the line the element starts on, the attribute's place and name"
    );
}

#[test]
fn xml_structure_problems_stop_the_run() {
    let cases = [
        (
            "<FlexStatementResponse><Status>Warn</Status></FlexStatementResponse>",
            "line 1: not a Flex Query report: the root element is <FlexStatementResponse>",
        ),
        (
            "<FlexQueryResponse>\n<FlexStatements>\n<FlexStatement accountId=\"U1\">\n<OpenPositions>\n</FlexStatements>",
            "not well-formed XML",
        ),
        (
            "<FlexQueryResponse><FlexStatements><FlexStatement accountId=\"U1\"><Trades/></FlexStatement></FlexStatements></FlexQueryResponse>",
            "has no Open Positions (POST)",
        ),
        (
            "<FlexQueryResponse><FlexStatements><FlexStatement><OpenPositions/></FlexStatement></FlexStatements></FlexQueryResponse>",
            "FlexStatement without an accountId attribute",
        ),
        (
            "<FlexQueryResponse><FlexStatements><FlexStatement accountId=\"U1\"><OpenPositions><OpenPosition currency=\"USD\" assetCategory=\"STK\" symbol=\"A\" position=\"1\"/></OpenPositions></FlexStatement></FlexStatements></FlexQueryResponse>",
            "required column 'markPrice' is missing",
        ),
    ];
    for (text, reason) in cases {
        let error = report(&[("x.xml", text)], MarketData::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{text}: {error}");
    }
}

#[test]
fn an_xml_statement_without_a_section_others_have_fails_its_account() {
    let text = r#"<FlexQueryResponse><FlexStatements>
<FlexStatement accountId="U1" toDate="20261120"><AccountInformation currency="USD"/>
<OpenPositions><OpenPosition currency="USD" fxRateToBase="1" assetCategory="STK" symbol="AAPL" position="1" markPrice="245.30"/></OpenPositions>
<CashReport><CashReportCurrency currency="USD" endingCash="5"/></CashReport>
</FlexStatement>
<FlexStatement accountId="U2" toDate="20261120"><AccountInformation currency="USD"/>
<OpenPositions/>
</FlexStatement>
</FlexStatements></FlexQueryResponse>"#;
    let read = report_ok(&[("s.xml", text)]);
    let u1 = account(&read.batch, "U1");
    assert!(u1.errors.is_empty(), "{:?}", reasons(u1));
    assert_eq!(u1.cash[0].amount, dec("5"));
    assert_eq!(
        reasons(account(&read.batch, "U2")),
        vec![
            "s.xml line 6: the statement of account U2 has no Cash Report section, which other \
             statements of the run have: its cash would be missing"
        ]
    );
    // An empty <OpenPositions/> is a section with no positions.
    assert!(account(&read.batch, "U2").positions.is_empty());
}

#[test]
fn a_folder_of_xml_reports_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nightly.xml"), XML).unwrap();
    let batch = read_flex(&[dir.path().to_path_buf()], MarketData::default()).unwrap();
    assert_eq!(batch.accounts.len(), 2);
    let empty = tempfile::tempdir().unwrap();
    let error = read_flex(&[empty.path().to_path_buf()], MarketData::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("has no .csv or .xml files"), "{error}");
}

#[test]
fn xml_entities_are_not_expanded_and_bad_bytes_stop_the_file() {
    // A custom entity (the start of a "billion laughs") is not expanded: the
    // attribute is an error of its row, which fails its account.
    let text = r#"<?xml version="1.0"?>
<!DOCTYPE FlexQueryResponse [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>
<FlexQueryResponse><FlexStatements><FlexStatement accountId="U1">
<OpenPositions>
<OpenPosition currency="USD" fxRateToBase="1" assetCategory="STK" symbol="&b;" position="1" markPrice="1"/>
<OpenPosition currency="USD" fxRateToBase="1" assetCategory="STK" symbol="A&amp;B" position="2" markPrice="1"/>
</OpenPositions>
</FlexStatement></FlexStatements></FlexQueryResponse>"#;
    let read = report_ok(&[("e.xml", text)]);
    let u1 = account(&read.batch, "U1");
    assert_eq!(u1.errors.len(), 1, "{:?}", reasons(u1));
    assert!(
        reasons(u1)[0].starts_with("e.xml line 5 column 4 (symbol): bad value"),
        "{:?}",
        reasons(u1)
    );
    // The predefined entities are read.
    assert_eq!(u1.positions.len(), 1);
    assert_eq!(u1.positions[0].instrument.symbol, "A&B");
    // Bytes that are not UTF-8 stop the file at their line.
    let mut bytes =
        b"<FlexQueryResponse><FlexStatements>\n<FlexStatement accountId=\"U\xe9\">".to_vec();
    bytes.extend_from_slice(
        b"<OpenPositions/></FlexStatement></FlexStatements></FlexQueryResponse>",
    );
    let mut reader = FlexReader::default();
    let error = reader
        .read("l.xml", bytes.as_slice())
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("l.xml: line 2:"), "{error}");
}

#[test]
fn the_dates_of_a_daily_breakout_are_the_accounts_latest() {
    let text = sample("daily-breakout.csv");
    let read = report_ok(&[("daily.csv", &text)]);
    assert_eq!(read.report_dates(), vec![date(2026, 11, 20)]);
}

#[test]
fn reconciliation_csv_rounds_to_cents_and_neutralises_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reconciliation.csv");
    let checks = [
        NavCheck {
            account: "=HYPERLINK(\"x\")".into(),
            currency: Some(Currency::USD),
            nlv: Some(dec("1000.005")),
            broker_nav: Some(dec("1000")),
            difference: Some(dec("0.005")),
            tolerance: Some(dec("1")),
            status: "ok",
        },
        NavCheck {
            account: "U2".into(),
            currency: None,
            nlv: None,
            broker_nav: None,
            difference: None,
            tolerance: None,
            status: "no_nlv",
        },
    ];
    write_reconciliation(&path, &checks).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "account,currency,nlv,broker_nav,difference,tolerance,status\n\
         \"'=HYPERLINK(\"\"x\"\")\",USD,1000.00,1000.00,0.00,1.00,ok\n\
         U2,,,,,,no_nlv\n"
    );
}

/// An XML report made line by line as it is read, never held whole.
struct Generated<I: Iterator<Item = String>> {
    lines: I,
    pending: Vec<u8>,
    at: usize,
}

impl<I: Iterator<Item = String>> std::io::Read for Generated<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            match self.lines.next() {
                Some(line) => {
                    self.pending = line.into_bytes();
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_long_xml_report_streams_with_exact_line_numbers() {
    // 200 statements of 100 positions, each element on two lines (3 MB,
    // dozens of buffer refills); the last position has a bad price.
    let (accounts, per) = (200usize, 100usize);
    let head = ["<FlexQueryResponse><FlexStatements>\n".to_string()].into_iter();
    let body = (0..accounts).flat_map(move |a| {
        let open = format!(
            "<FlexStatement accountId=\"U{a}\" toDate=\"20261120\">\n\
             <AccountInformation currency=\"USD\"/>\n<OpenPositions>\n"
        );
        let rows = (0..per).map(move |p| {
            let mark = if a == accounts - 1 && p == per - 1 {
                "-1"
            } else {
                "10.5"
            };
            format!(
                "<OpenPosition currency=\"USD\" fxRateToBase=\"1\" assetCategory=\"STK\"\n    \
                 symbol=\"S{p}\" position=\"{}\" markPrice=\"{mark}\"/>\n",
                p + 1
            )
        });
        std::iter::once(open).chain(rows).chain(std::iter::once(
            "</OpenPositions></FlexStatement>\n".to_string(),
        ))
    });
    let tail = ["</FlexStatements></FlexQueryResponse>\n".to_string()].into_iter();
    let input = Generated {
        lines: head.chain(body).chain(tail),
        pending: Vec::new(),
        at: 0,
    };
    let mut reader = FlexReader::default();
    reader.read("big.xml", input).unwrap();
    let read = reader.finish(MarketData::default()).unwrap();
    assert_eq!(read.batch.accounts.len(), accounts);
    let first = account(&read.batch, "U0");
    assert!(first.errors.is_empty(), "{:?}", reasons(first));
    assert_eq!(first.positions.len(), per);
    // Σ (1..=100) × 10.5 = 5,050 × 10.5 = 53,025.
    assert_eq!(nlv(&read, "U0"), dec("53025"));
    // Line 1 opens the file; each statement takes 3 + 2 × 100 + 1 = 204
    // lines; the last statement starts on line 2 + 199 × 204 = 40,598, its
    // positions on line 40,601, the 100th on 40,601 + 99 × 2 = 40,799.
    let last = account(&read.batch, &format!("U{}", accounts - 1));
    assert_eq!(
        reasons(last),
        vec!["big.xml line 40799 column 6 (markPrice): negative price -1"]
    );
}

#[test]
fn the_xml_sample_needs_no_market_folder_for_its_rates() {
    let path = format!(
        "{}/../../examples/flex/xml/nightly.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = read_flex_report(&[PathBuf::from(path)], MarketData::default()).unwrap();
    for account in &read.batch.accounts {
        assert!(
            account.errors.is_empty(),
            "{}: {:?}",
            account.id,
            reasons(account)
        );
    }
    let bases: Vec<Option<Currency>> = read
        .batch
        .accounts
        .iter()
        .map(|a| a.base_currency)
        .collect();
    assert_eq!(
        bases,
        vec![
            Some(Currency::USD),
            Some(Currency::USD),
            Some(cur("EUR")),
            Some(cur("EUR"))
        ]
    );
    // JPY is held only as cash: its rate is the ConversionRate of
    // 2026-11-20 (that of the 19th, 1 % higher, is left out).
    assert_eq!(usd(&read.batch, "JPY"), dec("0.006705"));
    assert_eq!(usd(&read.batch, "EUR"), dec("1.0815"));
    // CHF, held by a EUR account: 1.04669 EUR × 1.0815 USD.
    assert_eq!(usd(&read.batch, "CHF"), dec("1.04669") * dec("1.0815"));
    assert!(
        read.accounts
            .iter()
            .all(|a| a.report_date == Some(date(2026, 11, 20)))
    );
    // The NAV of the 20th, not the 19th's.
    assert_eq!(
        read.accounts[0].broker_nav.as_ref().map(|n| n.total),
        Some(dec("45151.06"))
    );
}

#[test]
fn a_bof_line_dates_its_accounts_but_makes_none() {
    let text = "\
BOF,U1;U9,q,1,20261119,20261120
BOA,U1
BOS,POST,Open Positions
ClientAccountID,CurrencyPrimary,FXRateToBase,AssetClass,Symbol,Quantity,MarkPrice
U1,USD,1,STK,AAPL,3,245.30
EOS,POST
EOA,U1
EOF
";
    let read = report_ok(&[("bof.csv", text)]);
    let ids: Vec<&str> = read.batch.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["U1"],
        "U9 has no rows: not an account of the batch"
    );
    assert_eq!(read.accounts[0].report_date, Some(date(2026, 11, 20)));
}
