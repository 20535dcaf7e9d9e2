//! Hostile: a noisy neighbour that misbehaves in every way a guest can, chosen by the quantity
//! of the quote's first line (any quantity the API accepts), so that tests and the
//! noisy-neighbour benchmark can drive each kind through the real server:
//!
//! - 1: sleeps an hour (`std::thread::sleep`: a monotonic-clock subscription, then a block);
//! - 2: polls a clock subscription that is due only at the end of time;
//! - 3: reads stdin to its end with a blocking read, and logs what it got;
//! - 4: reads the quote's customer through the `customer` capability in an endless loop;
//! - 5: sleeps 10 ms, within its deadline, and logs how long the monotonic clock saw it sleep;
//! - 6: reads the quote's customer up to 1,000 times and logs which call failed first, and how;
//! - 7: spins forever;
//! - 8: allocates 1 MiB blocks, touching each, without end;
//! - 9: panics;
//! - 11: counts its invocations in a global and logs the count (state that would leak from
//!   one quote into the next, were an instance reused);
//! - 12: answers 100 reasons that all point at the same 1 MiB of its memory: 1 MiB in the
//!   guest, 100 MiB to a host that copies each string;
//! - 13: subscribes to the monotonic clock in a loop, keeping every pollable (host memory
//!   outside its own);
//! - anything else: answers at once, changing nothing.
use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError, customers, log};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Invocations this instance has seen.
static SEEN: AtomicU64 = AtomicU64::new(0);

struct NoisyNeighbour;

impl Guest for NoisyNeighbour {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mode = quote.lines().next().map(|line| line.quantity).unwrap_or(0);
        let customer = quote.customer.map(|c| c.id).unwrap_or(0);
        let say = |what: String| log::log(log::Level::Info, &what);
        match mode {
            1 => std::thread::sleep(Duration::from_secs(3600)),
            2 => {
                let never = wasip2::clocks::monotonic_clock::subscribe_instant(u64::MAX);
                wasip2::io::poll::poll(&[&never]);
            }
            3 => {
                let mut input = Vec::new();
                let read = std::io::stdin().read_to_end(&mut input);
                say(format!("stdin: {read:?}"));
            }
            4 => loop {
                let _ = std::hint::black_box(customers::get(customer));
            },
            5 => {
                let before = Instant::now();
                std::thread::sleep(Duration::from_millis(10));
                say(format!("slept {} ms", before.elapsed().as_millis()));
            }
            6 => {
                let first_error = (1..=1000).find_map(|call| customers::get(customer).err().map(|e| (call, e)));
                say(match first_error {
                    Some((call, error)) => format!("call {call}: {error:?}"),
                    None => "1000 calls answered".into(),
                });
            }
            7 => {
                let mut spins = 0u64;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            8 => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1; 1 << 20]);
                    std::hint::black_box(&blocks);
                }
            }
            9 => panic!("noisy neighbour panics on purpose"),
            11 => say(format!("invocation {}", SEEN.fetch_add(1, Ordering::Relaxed) + 1)),
            13 => loop {
                std::mem::forget(wasip2::clocks::monotonic_clock::subscribe_duration(0));
            },
            12 => {
                let mut one = std::mem::ManuallyDrop::new("x".repeat(1 << 20));
                let (ptr, len, capacity) = (one.as_mut_ptr(), one.len(), one.capacity());
                // SAFETY: none. The aliasing is the attack: the strings are never dropped in
                // the guest, because the host refuses the answer before its post-return.
                let reasons = (0..100)
                    .map(|_| unsafe { String::from_raw_parts(ptr, len, capacity) })
                    .collect();
                return Ok(PriceAdjustments {
                    reasons,
                    ..PriceAdjustments::default()
                });
            }
            _ => {}
        }
        Ok(PriceAdjustments::default())
    }
}

pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(NoisyNeighbour);
