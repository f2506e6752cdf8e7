//! Pagination shared by every listing: by offset, or by keyset (after a given id).

/// Where a slice of a listing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageStart {
    /// After skipping this many items; storage walks past every skipped item.
    Offset(u64),
    /// Right after the item with this id, in the listing's order (keyset): a deep slice costs
    /// what the first does. The id need not exist any more.
    After(i64),
}

/// Which slice of a listing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Where the slice starts.
    pub start: PageStart,
    /// Items to return at most (1..=500).
    pub limit: u32,
}

impl PageRequest {
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 500;
    /// Page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// Every item: for listings that are not paginated on the wire.
    pub const ALL: PageRequest = PageRequest { start: PageStart::Offset(0), limit: u32::MAX };

    /// `limit` items after skipping `offset`.
    pub const fn offset(offset: u64, limit: u32) -> Self {
        Self { start: PageStart::Offset(offset), limit }
    }

    /// `limit` items following the item with id `after`.
    pub const fn after(after: i64, limit: u32) -> Self {
        Self { start: PageStart::After(after), limit }
    }

    /// The listing's size when this slice alone proves it: a slice that starts at an offset and
    /// comes back short (and not empty past the end) holds the listing's last item.
    pub fn total_from_slice(self, returned: usize, more: bool) -> Option<u64> {
        match self.start {
            PageStart::Offset(offset) if !more && (returned > 0 || offset == 0) => {
                Some(offset.saturating_add(returned as u64))
            }
            _ => None,
        }
    }
}

/// One slice of a listing and the size of the whole listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this slice, in listing order.
    pub items: Vec<T>,
    /// How many items the whole listing holds (exact, or estimated past a size the adapter
    /// documents).
    pub total: u64,
    /// Whether items follow this slice: what a `next` link needs, exact even when `total` is
    /// an estimate.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_slice_from_an_offset_proves_the_total() {
        assert_eq!(PageRequest::offset(0, 50).total_from_slice(0, false), Some(0));
        assert_eq!(PageRequest::offset(40, 50).total_from_slice(7, false), Some(47));
        assert_eq!(PageRequest::offset(40, 50).total_from_slice(0, false), None, "past the end says nothing");
        assert_eq!(PageRequest::offset(0, 2).total_from_slice(2, true), None);
        assert_eq!(PageRequest::after(9, 50).total_from_slice(3, false), None, "a keyset slice has no position");
    }
}
