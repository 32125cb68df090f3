//! Connection places: how many connections a listener holds at once, in all and per client
//! address, shared by the HTTP and gRPC listeners (the MQTT gate counts its own way: per
//! address only until a device says who it is). A connection past either cap is closed at
//! once, the cheapest answer to a flood.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The connections one listener holds.
#[derive(Debug)]
pub struct Places {
    max: usize,
    max_per_address: usize,
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Place {
    places: Arc<Places>,
    ip: Option<IpAddr>,
}

impl Places {
    /// At most `max` connections, `max_per_address` of them from one address.
    pub fn new(max: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Places {
            max,
            max_per_address,
            open: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a connection from `ip` (`None`: address unknown, counted in all only), or
    /// `None` when full.
    pub fn take(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<Place> {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if let Some(ip) = ip {
            let admitted = self.per_address.lock().is_ok_and(|mut per| {
                let n = per.entry(ip).or_insert(0);
                *n += 1;
                if *n > self.max_per_address {
                    *n -= 1;
                    false
                } else {
                    true
                }
            });
            if !admitted {
                self.open.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
        }
        Some(Place {
            places: self.clone(),
            ip,
        })
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.places.open.fetch_sub(1, Ordering::SeqCst);
        if let (Some(ip), Ok(mut per)) = (self.ip, self.places.per_address.lock()) {
            if let Some(n) = per.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_address_and_frees_on_drop() {
        let places = Places::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let p1 = places.take(Some(a)).expect("first");
        let _p2 = places.take(Some(a)).expect("second");
        assert!(places.take(Some(a)).is_none(), "per-address cap");
        let _p3 = places.take(Some(b)).expect("another address");
        assert!(places.take(Some(b)).is_none(), "cap in all");
        drop(p1);
        assert_eq!(places.open(), 2);
        assert!(
            places.take(Some(a)).is_some(),
            "a freed place is taken again"
        );
    }
}
