//! [`SmallSet`]: the set of an evaluator's metrics, tools or tags.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set kept as a sorted vector of distinct items: the same order, equality and comparison as a `BTreeSet`, for the
/// sets an evaluator has a few items in (its metrics, tools and tags). A `BTreeSet` allocates room for eleven items
/// with its first; with two sets of three per evaluator in each state, the trees were about 1.6 KiB of every
/// evaluator a plan holds. Lookups are binary searches.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmallSet<T>(Vec<T>);

impl<T> SmallSet<T> {
    pub const fn new() -> Self {
        SmallSet(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The items, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn first(&self) -> Option<&T> {
        self.0.first()
    }

    pub fn last(&self) -> Option<&T> {
        self.0.last()
    }

    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.0.retain(keep);
    }
}

impl<T: Ord> SmallSet<T> {
    /// Adds `item`; `false` when it was there already.
    pub fn insert(&mut self, item: T) -> bool {
        match self.0.binary_search(&item) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, item);
                true
            }
        }
    }

    pub fn contains<Q>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.binary_search_by(|probe| probe.borrow().cmp(item)).is_ok()
    }

    /// Removes `item`; `false` when it was not there.
    pub fn remove<Q>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.0.binary_search_by(|probe| probe.borrow().cmp(item)) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The items of `self` that `other` does not have, in order.
    pub fn difference<'a>(&'a self, other: &'a SmallSet<T>) -> impl Iterator<Item = &'a T> + 'a {
        self.0.iter().filter(move |i| !other.contains(*i))
    }

    /// The items both have, in order.
    pub fn intersection<'a>(&'a self, other: &'a SmallSet<T>) -> impl Iterator<Item = &'a T> + 'a {
        self.0.iter().filter(move |i| other.contains(*i))
    }

    /// The items either has, each once, in order.
    pub fn union<'a>(&'a self, other: &'a SmallSet<T>) -> impl Iterator<Item = &'a T> + 'a {
        let mut all: Vec<&T> = self.0.iter().chain(other.0.iter()).collect();
        all.sort();
        all.dedup();
        all.into_iter()
    }

    pub fn is_subset(&self, other: &SmallSet<T>) -> bool {
        self.0.iter().all(|i| other.contains(i))
    }

    pub fn is_superset(&self, other: &SmallSet<T>) -> bool {
        other.is_subset(self)
    }

    fn from_vec(mut items: Vec<T>) -> Self {
        items.sort();
        items.dedup();
        items.shrink_to_fit();
        SmallSet(items)
    }
}

impl<T> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet(Vec::new())
    }
}

impl<T: fmt::Debug> fmt::Debug for SmallSet<T> {
    /// As a `BTreeSet` prints: `{a, b}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl<T: Ord> FromIterator<T> for SmallSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        SmallSet::from_vec(items.into_iter().collect())
    }
}

impl<T: Ord> Extend<T> for SmallSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        let had = self.0.len();
        self.0.extend(items);
        if self.0.len() != had {
            let items = std::mem::take(&mut self.0);
            *self = SmallSet::from_vec(items);
        }
    }
}

impl<'a, T: Ord + Copy + 'a> Extend<&'a T> for SmallSet<T> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, items: I) {
        self.extend(items.into_iter().copied());
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for SmallSet<T> {
    fn from(items: [T; N]) -> Self {
        SmallSet::from_vec(Vec::from(items))
    }
}

impl<T: Ord> From<std::collections::BTreeSet<T>> for SmallSet<T> {
    fn from(items: std::collections::BTreeSet<T>) -> Self {
        // Already sorted and distinct.
        SmallSet(items.into_iter().collect())
    }
}

impl<T> IntoIterator for SmallSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a SmallSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Serialize> Serialize for SmallSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for SmallSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(SmallSet::from_vec)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn behaves_as_a_btreeset_of_the_same_items() {
        let items = ["b", "a", "c", "a", "b"];
        let small: SmallSet<&str> = items.iter().copied().collect();
        let tree: BTreeSet<&str> = items.iter().copied().collect();
        assert_eq!(small.iter().collect::<Vec<_>>(), tree.iter().collect::<Vec<_>>());
        assert_eq!(format!("{small:?}"), format!("{tree:?}"));
        assert_eq!(serde_json::to_string(&small).unwrap(), serde_json::to_string(&tree).unwrap());
        let back: SmallSet<String> = serde_json::from_str(r#"["z", "a", "z"]"#).unwrap();
        assert_eq!(back.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "z"]);

        let mut s = SmallSet::from([3, 1]);
        assert!(s.insert(2));
        assert!(!s.insert(3));
        assert!(s.contains(&2) && !s.contains(&4));
        s.extend([5, 1, 0]);
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 5]);
        assert!(s.remove(&0) && !s.remove(&0));
        let other = SmallSet::from([2, 9]);
        assert_eq!(s.difference(&other).copied().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(s.intersection(&other).copied().collect::<Vec<_>>(), [2]);
        assert_eq!(s.union(&other).copied().collect::<Vec<_>>(), [1, 2, 3, 5, 9]);
        assert!(SmallSet::from([1, 3]).is_subset(&s) && !other.is_subset(&s));
        // Order and equality are the sets', whatever order the items came in.
        assert_eq!(SmallSet::from([2, 1]), SmallSet::from([1, 2]));
        assert!(SmallSet::from([1, 2]) < SmallSet::from([1, 3]));
        assert_eq!(
            SmallSet::from([1, 2]).cmp(&SmallSet::from([1, 3])),
            BTreeSet::from([1, 2]).cmp(&BTreeSet::from([1, 3]))
        );
    }
}
