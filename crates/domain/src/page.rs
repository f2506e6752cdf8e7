//! Offset pagination shared by every listing.

/// Which slice of a listing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Items to skip.
    pub offset: u64,
    /// Items to return at most (1..=500).
    pub limit: u32,
}

impl PageRequest {
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 500;
    /// Page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// Every item: for listings that are not paginated on the wire.
    pub const ALL: PageRequest = PageRequest { offset: 0, limit: u32::MAX };
}

/// One slice of a listing and the size of the whole listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this slice, in listing order.
    pub items: Vec<T>,
    /// How many items the whole listing holds.
    pub total: u64,
}
