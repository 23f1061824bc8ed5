//! Price scripts: determinism under a seed, valid decimal text everywhere, realistic
//! magnitudes and precision per pair.

use std::time::Duration;

use kraken_sim::decimal::{self, Decimal};
use kraken_sim::{Rate, SimConfig};

use crate::client::{Client, is_decimal_literal, is_rfc3339_micros, manual, start, ticker_fields};

/// The `last` values a subscriber sees for `n` trades of `pair` under `seed`.
async fn script(seed: u64, pair: &str, n: usize) -> Vec<String> {
    let sim = start(SimConfig {
        seed,
        ..manual(&["BTC/USD", "ETH/USD", "DOGE/USD"])
    })
    .await;
    let mut client = Client::connected(&sim).await;
    client.subscribe(&[pair]).await;
    let mut seen = vec![ticker_fields(&client.next_data().await)["last"].clone()];
    for i in 0..n {
        // Interleave another pair: it must not disturb this pair's script.
        if i % 3 == 0 {
            sim.control()
                .trade_now("ETH/USD", None)
                .await
                .expect("trade");
        }
        sim.control().trade_now(pair, None).await.expect("trade");
        seen.push(ticker_fields(&client.next_data().await)["last"].clone());
    }
    seen
}

#[tokio::test]
async fn the_same_seed_replays_the_same_prices() {
    let a = script(7, "BTC/USD", 25).await;
    let b = script(7, "BTC/USD", 25).await;
    let c = script(8, "BTC/USD", 25).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let distinct: std::collections::HashSet<_> = a.iter().collect();
    assert!(distinct.len() > 5, "the price moves: {a:?}");
}

#[tokio::test]
async fn every_ticker_number_is_valid_decimal_text() {
    let config = SimConfig {
        rate: Rate::Total(5_000),
        ..SimConfig::default()
    };
    let sim = start(config).await;
    let symbols: Vec<&str> = common::Pair::all().map(|p| p.as_str()).collect();
    let mut client = Client::subscribed(&sim, &symbols).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3_000 {
        let text = client.next_data().await;
        let fields = ticker_fields(&text);
        for (name, raw) in &fields {
            match name.as_str() {
                "symbol" => {
                    seen.insert(raw.clone());
                }
                "timestamp" => assert!(is_rfc3339_micros(raw.trim_matches('"')), "{raw}"),
                "trades" => assert!(raw.parse::<u64>().is_ok(), "{raw}"),
                _ => assert!(is_decimal_literal(raw), "{name}: {raw} in {text}"),
            }
        }
        let num = |k: &str| decimal::parse(&fields[k]).expect(k);
        for k in [
            "bid", "ask", "last", "low", "high", "vwap", "bid_qty", "ask_qty", "volume",
        ] {
            assert!(num(k) > Decimal::ZERO, "{k} in {text}");
        }
        assert!(num("bid") <= num("ask"), "{text}");
        assert!(num("low") <= num("last"), "{text}");
        assert!(num("high") >= num("last"), "{text}");
        assert_eq!(
            num("bid_qty").scale(),
            8,
            "quantities keep trailing zeros: {text}"
        );
    }
    assert!(seen.len() > 50, "{} pairs seen", seen.len());
}

#[tokio::test]
async fn magnitudes_and_precision_are_realistic_per_pair() {
    let sim = start(SimConfig {
        rate: Rate::PerPair(Duration::from_millis(5)),
        ..SimConfig::default()
            .with_pairs(&["BTC/USD", "ETH/USD", "DOGE/USD"])
            .expect("pairs")
    })
    .await;
    let mut client = Client::subscribed(&sim, &["BTC/USD", "ETH/USD", "DOGE/USD"]).await;
    for _ in 0..300 {
        let fields = ticker_fields(&client.next_data().await);
        let last = decimal::parse(&fields["last"]).expect("last");
        let (scale, low, high) = match fields["symbol"].as_str() {
            "\"BTC/USD\"" => (1, Decimal::new(30_000, 0), Decimal::new(120_000, 0)),
            "\"ETH/USD\"" => (2, Decimal::new(1_500, 0), Decimal::new(6_000, 0)),
            "\"DOGE/USD\"" => (7, Decimal::new(5, 2), Decimal::new(2, 1)),
            other => panic!("unexpected {other}"),
        };
        assert!(
            last.scale() <= scale,
            "{} has at most {scale} decimals",
            fields["last"]
        );
        assert!(last > low && last < high, "{}", fields["last"]);
    }
}
