//! [`Chunked`]: a run's events in fixed-size chunks. A growing `Vec` or
//! `VecDeque` of a million events copies all of them each time it doubles,
//! in one frame; chunks never move, and letting the oldest go drops whole
//! chunks.

use std::collections::VecDeque;
use std::ops::Range;

/// Items per chunk.
const CHUNK: usize = 4096;

/// Items in order, oldest first.
#[derive(Clone, Debug)]
pub struct Chunked<T> {
    chunks: VecDeque<Vec<T>>,
    /// Items of the first chunk already let go.
    skip: usize,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: VecDeque::new(),
            skip: 0,
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// Items kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `item` as the newest.
    pub fn push_back(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// The `index`-th oldest item.
    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let at = self.skip + index;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    /// The oldest item.
    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The newest item.
    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|last| self.get(last))
    }

    /// The items in `range` (clamped to those kept), oldest first.
    pub fn range(&self, range: Range<usize>) -> impl Iterator<Item = &T> {
        let (start, end) = (range.start.min(self.len), range.end.min(self.len));
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
            .take(end.saturating_sub(start))
    }

    /// Every item, oldest first.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.range(0..self.len)
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

    /// Lets the oldest `count` items go.
    pub fn let_go(&mut self, count: usize) {
        let count = count.min(self.len);
        self.len -= count;
        self.skip += count;
        while self.skip >= CHUNK {
            self.chunks.pop_front();
            self.skip -= CHUNK;
        }
        if self.len == 0 {
            self.chunks.clear();
            self.skip = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_order_across_chunks_and_lets_the_oldest_go() {
        let mut chunked = Chunked::default();
        for item in 0..10_000_u32 {
            chunked.push_back(item);
        }
        assert_eq!(chunked.len(), 10_000);
        assert_eq!(chunked.get(4096), Some(&4096));
        assert_eq!(
            chunked.range(4094..4099).copied().collect::<Vec<_>>(),
            [4094, 4095, 4096, 4097, 4098]
        );
        assert_eq!(chunked.partition_point(|item| *item < 7777), 7777);
        chunked.let_go(5000);
        assert_eq!(chunked.len(), 5000);
        assert_eq!(chunked.front(), Some(&5000));
        assert_eq!(chunked.back(), Some(&9999));
        assert_eq!(chunked.iter().count(), 5000);
        assert_eq!(
            chunked.range(4998..6000).copied().collect::<Vec<_>>(),
            [9998, 9999]
        );
        assert_eq!(chunked.chunks.len(), 2, "whole chunks went");
        chunked.let_go(5000);
        assert_eq!((chunked.len(), chunked.front()), (0, None));
        chunked.push_back(1);
        assert_eq!(chunked.iter().copied().collect::<Vec<_>>(), [1]);
    }
}
