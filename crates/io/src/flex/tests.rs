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
    // The same report given twice.
    let batch = ok(&[("a.csv", &text), ("b.csv", &text)]);
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
fn every_date_format_is_read() {
    let expected = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
    for text in [
        "20270115",
        "2027-01-15",
        "2027/01/15",
        "01/15/2027",
        "01/15/27",
        "1/15/2027",
        "15-Jan-27",
        "15-JAN-27",
        "15-jan-2027",
        "20270115;162000",
    ] {
        assert_eq!(parse_flex_date(text).map(|d| d.0), Ok(expected), "{text}");
    }
    for bad in [
        "2027011",
        "2027-13-01",
        "15.01.2027",
        "Jan 15 2027",
        "15-01-27",
        "27-01-15",
    ] {
        assert!(parse_flex_date(bad).is_err(), "{bad} accepted");
    }
    // A day above 12 proves the order; a slash date that reads both ways
    // gives both readings and proves nothing.
    let day_first = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    assert_eq!(
        parse_flex_date("20/11/2026"),
        Ok((day_first, None, Some(DayOrder::DayFirst)))
    );
    assert_eq!(
        parse_flex_date("11/20/2026"),
        Ok((day_first, None, Some(DayOrder::MonthFirst)))
    );
    let (march, january) = (
        NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 1, 3).unwrap(),
    );
    assert_eq!(parse_flex_date("03/01/2027"), Ok((march, Some(january), None)));
    let same = NaiveDate::from_ymd_opt(2027, 5, 5).unwrap();
    assert_eq!(parse_flex_date("05/05/2027"), Ok((same, None, None)));
    assert!(parse_flex_date("13/13/2027").is_err());
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
