//! [`Kept`]: the newest `cap` items of a lane's history, in chunks that
//! clones share. A snapshot of the world clones every lane; with chunks it
//! copies a few pointers per lane instead of its whole history, and the
//! lane that moves on after a snapshot copies at most one chunk.

use std::fmt;
use std::ops::Index;
use std::rc::Rc;

/// Items per chunk. Every chunk but the last is full.
const CHUNK: usize = 32;

/// The newest `cap` items pushed, oldest first.
#[derive(Clone)]
pub struct Kept<T> {
    chunks: Vec<Rc<Vec<T>>>,
    /// Items of the first chunk already let go.
    skip: usize,
    len: usize,
    cap: usize,
}

impl<T: Clone> Kept<T> {
    /// Keeps at most `cap` items.
    pub fn new(cap: usize) -> Self {
        Kept {
            chunks: Vec::new(),
            skip: 0,
            len: 0,
            cap,
        }
    }

    /// Items kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `item` as the newest, letting the oldest go beyond the cap.
    pub fn push_back(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Rc::make_mut(last).push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(Rc::new(chunk));
            }
        }
        self.len += 1;
        if self.len > self.cap {
            self.len -= 1;
            self.skip += 1;
            if self.skip == CHUNK {
                self.chunks.remove(0);
                self.skip = 0;
            }
        }
    }

    /// The `index`-th oldest item.
    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let at = self.skip + index;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    /// The newest item.
    pub fn back(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        self.chunks.last()?.last()
    }

    /// The items, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.range(0..)
    }

    /// The items from the `from.start`-th on.
    pub fn range(&self, from: std::ops::RangeFrom<usize>) -> impl Iterator<Item = &T> {
        let start = from.start.min(self.len);
        let at = self.skip + start;
        let offset = at % CHUNK;
        self.chunks
            .iter()
            .skip(at / CHUNK)
            .enumerate()
            .flat_map(move |(index, chunk)| {
                let from = if index == 0 { offset } else { 0 };
                chunk.get(from..).unwrap_or_default()
            })
            .take(self.len - start)
    }

    /// The index of the first item for which `is_before` is false (the
    /// items must be ordered by it).
    pub fn partition_point(&self, mut is_before: impl FnMut(&T) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let middle = (low + high) / 2;
            if self.get(middle).is_some_and(&mut is_before) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// Bytes a clone of it holds on its own: its chunk pointers and the
    /// last chunk, which the next push would copy.
    pub fn weight(&self) -> usize {
        self.chunks.len() * std::mem::size_of::<Rc<Vec<T>>>() + CHUNK * std::mem::size_of::<T>()
    }
}

impl<T: Clone> Index<usize> for Kept<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        self.get(index).expect("index within the items kept")
    }
}

impl<T: Clone + PartialEq> PartialEq for Kept<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Clone + Eq> Eq for Kept<T> {}

impl<T: Clone + fmt::Debug> fmt::Debug for Kept<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_the_newest_in_order_and_clones_share_full_chunks() {
        let mut kept = Kept::new(100);
        for item in 0..1000_u32 {
            kept.push_back(item);
            assert_eq!(kept.len(), (item as usize + 1).min(100));
            assert_eq!(kept.back(), Some(&item));
        }
        assert_eq!(
            kept.iter().copied().collect::<Vec<_>>(),
            (900..1000).collect::<Vec<_>>()
        );
        assert_eq!(kept[0], 900);
        assert_eq!(kept.partition_point(|item| *item < 950), 50);
        assert_eq!(kept.range(98..).copied().collect::<Vec<_>>(), [998, 999]);

        let snapshot = kept.clone();
        assert!(Rc::ptr_eq(&snapshot.chunks[0], &kept.chunks[0]));
        for item in 1000..1010 {
            kept.push_back(item);
        }
        assert_eq!(snapshot.back(), Some(&999), "the clone is unchanged");
        assert_eq!(kept.back(), Some(&1009));
        assert_ne!(snapshot, kept);
        assert!(
            snapshot.chunks[1..snapshot.chunks.len() - 1]
                .iter()
                .all(|chunk| kept.chunks.iter().any(|other| Rc::ptr_eq(chunk, other))),
            "full chunks stay shared"
        );
    }
}
