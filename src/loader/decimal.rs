//! Short plain decimals (`-0.41242`), correctly rounded: the values of embedding text files,
//! bit for bit what `str::parse::<f32>` gives, about twice as fast as the general parser.
//!
//! An integer mantissa of at most 2^24 over a power of ten up to 10^10 is two exact f32
//! values, so their quotient is rounded once, correctly (Clinger's fast path). Anything else
//! (exponents, long mantissas, `+`, `nan`/`inf`) returns `None`, and
//! the caller goes to fast-float.

/// Exactly representable in f32, so the division below rounds only once.
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Parses the decimal at the start of `s`: its value and its length in bytes. `None` for
/// anything but `[-]DIGITS[.DIGITS]` with at most 9 digits and a mantissa of at most 2^24,
/// not followed by an exponent.
///
/// Eight bytes at a time (`parse_eight`) where the token and what follows it fit in the
/// slice, else one byte at a time (`parse_bytewise`); both give the same answer on every
/// input (proptested below).
#[inline]
pub(super) fn parse_short_decimal(s: &[u8]) -> Option<(f32, usize)> {
    match s.len() >= 9 {
        true => parse_eight(s),
        false => parse_bytewise(s),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The token's digits from one eight-byte load (after the sign): its first non-digit, the
/// point if that is one, the first non-digit after it; the digits without the point
/// combined in three multiplications (fast-float's eight-digit step). Tokens of eight bytes
/// or more (after the sign), with no digit, or a mantissa over 2^24 go to `parse_bytewise`.
///
/// Measured with a standalone harness on the values as the loader meets them (CPU time of
/// the thread, load about 6): 10.8–12.7 ns a value against 14.6–16.3 for the byte loop on the
/// 2M x 300 file (four decimals), 14.1–17.0 against 16.3–18.9 on GloVe 6B 50d.
#[inline]
fn parse_eight(s: &[u8]) -> Option<(f32, usize)> {
    let negative = s[0] == b'-';
    let start = usize::from(negative);
    let word: [u8; 8] = s[start..start + 8].try_into().expect("eight bytes");
    let x = u64::from_le_bytes(word);
    // Digits become 0..=9; each byte's top bit in `other` marks a byte that is not a digit.
    let t = x ^ (0x30 * ONES);
    let other = ((t & (0x7f * ONES)).wrapping_add(0x76 * ONES) | t) & (0x80 * ONES);
    if other == 0 {
        return parse_bytewise(s);
    }
    let first = (other.trailing_zeros() / 8) as usize;
    let (digits, end, point) = if (x >> (8 * first)) as u8 == b'.' {
        let after = other & !(0xffu64 << (8 * first));
        if after == 0 {
            return parse_bytewise(s);
        }
        let end = (after.trailing_zeros() / 8) as usize;
        let below = (1u64 << (8 * first)) - 1;
        ((t & below) | ((t >> 8) & !below), end, true)
    } else {
        (t, first, false)
    };
    let count = end - usize::from(point);
    if count == 0 {
        return parse_bytewise(s);
    }
    if matches!(s[start + end], b'e' | b'E') {
        return None;
    }
    let decimals = if point { end - first - 1 } else { 0 };
    // The `count` digits, first one highest, as fast-float combines eight.
    let mut v = digits << (8 * (8 - count));
    v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const MASK: u64 = 0x0000_00ff_0000_00ff;
    v = ((v & MASK)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    let mantissa = v as u32;
    if mantissa > 1 << 24 {
        return parse_bytewise(s);
    }
    Some((
        signed(mantissa as f32 / POW10[decimals], negative),
        start + end,
    ))
}

/// `value` negated when `negative`: the sign bit set without a branch. Half the values of
/// an embedding file are negative, at random, so a branch there is mispredicted every other
/// value; this measured 4–11 % faster a value (min of 7 runs of a standalone harness on the
/// 2M x 300 file and GloVe 6B 50d, issue 28). `-x` is `x` with its sign bit flipped, so the
/// bits are the same (`-0` included: the value parsed is never negative here).
#[inline]
fn signed(value: f32, negative: bool) -> f32 {
    f32::from_bits(value.to_bits() | (u32::from(negative) << 31))
}

/// `parse_short_decimal` one byte at a time.
///
/// Two eight-byte (SWAR) versions were measured against it on the 2M x 300
/// text file and GloVe 6B 50d (issue 28) and were slower: the byte loop's branches are
/// predicted, so consecutive values overlap, where the wide versions chain each value's
/// position on the loads and masks of the one before. (`parse_eight` was measured faster
/// later, by the thread's CPU time rather than the wall clock of a loaded machine.)
#[inline]
fn parse_bytewise(s: &[u8]) -> Option<(f32, usize)> {
    let negative = s.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut mantissa: u32 = 0;
    let mut digits = 0;
    while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d < 10) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u32::from(d));
        digits += 1;
        i += 1;
    }
    let mut decimals = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d < 10) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u32::from(d));
            decimals += 1;
            i += 1;
        }
    }
    let total = digits + decimals;
    // At most 9 digits cannot overflow u32; beyond 2^24 the mantissa is not exact in f32.
    if total == 0 || total > 9 || mantissa > 1 << 24 || decimals >= POW10.len() {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        return None;
    }
    Some((signed(mantissa as f32 / POW10[decimals], negative), i))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the loader would make of `token` followed by `tail`: the fast path, or
    /// fast-float as `parse_values` falls back to it.
    fn loaded(token: &str, tail: &str) -> Option<(u32, usize)> {
        let text = format!("{token}{tail}");
        let s = text.as_bytes();
        parse_short_decimal(s)
            .or_else(|| fast_float2::parse_partial::<f32, _>(s).ok())
            .map(|(v, n)| (v.to_bits(), n))
    }

    /// `str::parse` on the token as the loader delimits it (up to a space), when the fast path
    /// takes it: same bits, same length. When the fast path declines, fast-float decides (it
    /// is what the loader used before for those too).
    fn check(token: &str) {
        for tail in [
            "",
            " 0.5 0.25 0.125 0.0625",
            "\t1",
            " ",
            "\r\n",
            "x 0.5 0.25 0.125",
        ] {
            let text = format!("{token}{tail}");
            let fast = parse_short_decimal(text.as_bytes());
            let same = |(v, n): (f32, usize)| (v.to_bits(), n);
            assert_eq!(
                fast.map(same),
                parse_bytewise(text.as_bytes()).map(same),
                "{text:?}: eight bytes at a time and one at a time differ"
            );
            if let Some((value, n)) = fast {
                let expected: f32 = text[..n].parse().expect("the fast path took a number");
                assert_eq!(value.to_bits(), expected.to_bits(), "{text:?}");
                if token.parse::<f32>().is_ok() {
                    assert_eq!(n, token.len(), "{text:?}: a number read in part");
                }
            }
            if let (Some((bits, _)), Ok(expected)) = (loaded(token, tail), token.parse::<f32>()) {
                match expected.is_nan() {
                    true => assert!(f32::from_bits(bits).is_nan(), "{text:?}"),
                    false => assert_eq!(bits, expected.to_bits(), "{text:?}"),
                }
            }
        }
    }

    #[test]
    fn edge_cases_parse_as_str_parse_does() {
        for token in [
            "0",
            "-0",
            "0.",
            "-0.",
            ".5",
            "-.5",
            ".",
            "-",
            "-0.0",
            "0.000000",
            "-0.00000",
            "1e-45",
            "-1e-45",
            "1.4e-45",
            "1e-46",
            "3.4028235e38",
            "3.4028236e38",
            "1e39",
            "16777216",
            "16777217",
            "1677721.7",
            "16777.217",
            "0.16777217",
            "0.16777216",
            "999999999",
            "9999999.99",
            "0.999999999",
            "0.0000000001",
            "0.00000000001",
            "-0.41242",
            "0.0013441",
            "1e-05",
            "2E+3",
            "0.5e1",
            "12345678",
            "123456789",
            "1234567890",
            "0.12345678",
            "0.123456789",
            "nan",
            "NaN",
            "-nan",
            "inf",
            "-inf",
            "Infinity",
            "+0.5",
            "+1",
            "0x10",
            "1.2.3",
            "--1",
            "-0.1234",
            "7.",
            "00000000.5",
            "0.00000001",
            "00000001.0",
            "1.23456789",
            "12345.6789",
            "5.",
            "-5.",
            "1234567.",
            "123.4567",
            "-1234567",
            "0.123456",
            "-0.1234567",
            "1.e5",
        ] {
            check(token);
        }
    }

    /// The tokens `parse_values` meets: signs, digits before and after a point, exponents,
    /// and some bytes that are not numbers at all.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?[0-9]{0,9}(\\.[0-9]{0,12})?",
            "-?[0-9]{1,3}\\.[0-9]{1,8}([eE][-+]?[0-9]{1,2})?",
            "[-+]?[0-9.eE]{1,12}",
            "[-+0-9.a-zA-Z\u{e9}]{1,10}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn tokens_parse_as_str_parse_does(token in token()) {
            check(&token);
        }

        #[test]
        fn f32_values_written_with_1_to_9_decimals(
            value in prop_oneof![-1e4f32..1e4, -1f32..1.0, -1e-3f32..1e-3],
            digits in 1usize..10,
        ) {
            check(&format!("{value:.digits$}"));
            check(&format!("{value}"));
        }
    }
}
