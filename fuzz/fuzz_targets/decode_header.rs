//! framed-header's decoder on arbitrary bytes: it must not panic, and what it says must
//! hold together: a frame's body ends where the frame does, `total_size` bytes after
//! its header, and the frame is no frame one byte earlier.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockref::frame::{decode_header, Decoded, Limits, PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits, so that both sides of each are reached.
    let Some((&pick, buf)) = data.split_first() else {
        return;
    };
    let limits = if pick < 128 {
        Limits::default()
    } else {
        Limits {
            max_body: usize::from(pick & 0x0f),
            max_header: usize::from(pick & 0x70) + 1,
        }
    };
    match decode_header(buf, &limits) {
        Ok(Decoded::Frame { frame, used }) => {
            assert!(used <= buf.len());
            assert!(frame.body.len() <= limits.max_body);
            assert_eq!(frame.header.len() + frame.body.len() + PREFIX_LEN, used);
            assert_eq!(frame.body, &buf[used - frame.body.len()..used]);
            assert!(matches!(
                decode_header(&buf[..used - 1], &limits),
                Ok(Decoded::NeedMore { .. })
            ));
        }
        Ok(Decoded::NeedMore { at_least }) => assert!(at_least > 0),
        Err(_) => {}
    }
});
