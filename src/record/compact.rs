//! Headers as bytes in a record's buffer: per header, the name's length
//! (u32, little endian), the name, the value's length, the value. Written
//! while an event is decoded, read by `header()` without allocating.

/// Appends `name` and a placeholder for the value's length; returns
/// where that length goes, for [`finish_value`]. `None`: the name is
/// longer than the form allows.
pub(crate) fn push_name(out: &mut Vec<u8>, name: &str) -> Option<usize> {
    out.extend_from_slice(&u32::try_from(name.len()).ok()?.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    Some(at)
}

/// Sets the length of the value written after the placeholder at `at`.
/// `None`: the value is longer than the form allows.
pub(crate) fn finish_value(out: &mut [u8], at: usize) -> Option<()> {
    let len = u32::try_from(out.len().checked_sub(at + 4)?).ok()?;
    out.get_mut(at..at + 4)?.copy_from_slice(&len.to_le_bytes());
    Some(())
}

/// The `(name, value)` pairs of compact headers.
pub(crate) struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Pairs<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (field, rest) = rest.split_at_checked(len)?;
        self.rest = rest;
        Some(field)
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Names were written from `&str`s, so they are UTF-8.
        let name = std::str::from_utf8(self.field()?).ok()?;
        let value = self.field()?;
        Some((name, value))
    }
}
