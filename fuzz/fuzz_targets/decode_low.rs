//! framed-low's decoder on arbitrary bytes: it must not panic, and what it says must hold
//! together: a frame is the prefix it was declared by, re-encodes to the bytes it used,
//! and is no frame one byte earlier.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockref::frame::{decode_low, encode_low, Decoded, Limits};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limit, so that both sides of it are reached: the default
    // (64 MiB, which short inputs never fill) or a small one.
    let Some((&pick, buf)) = data.split_first() else {
        return;
    };
    let limits = if pick < 128 {
        Limits::default()
    } else {
        Limits {
            max_body: usize::from(pick - 128),
            ..Limits::default()
        }
    };
    match decode_low(buf, &limits) {
        Ok(Decoded::Frame { frame, used }) => {
            assert!(used <= buf.len());
            assert_eq!(encode_low(frame), &buf[..used]);
            assert!(matches!(
                decode_low(&buf[..used - 1], &limits),
                Ok(Decoded::NeedMore { at_least: 1 })
            ));
        }
        Ok(Decoded::NeedMore { at_least }) => {
            assert!(at_least > 0);
            assert!(buf.len() + at_least <= 4 + limits.max_body);
        }
        Err(_) => {}
    }
});
