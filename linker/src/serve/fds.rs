//! The open-file limit against `max_connections`: a server that accepts
//! more connections than it may open files fails every `accept` with
//! "Too many open files", floods its log and stalls calls. So the cap is
//! lowered to what the limit leaves, once, with a warning.

/// Files kept free for what is not a connection: the compile cache,
/// NATS, wasi files a guest opens, the listener, stdio.
const RESERVED_FDS: u64 = 64;

/// The most connections this process can hold open: it raises its soft
/// open-file limit to the hard one (as servers do), then leaves
/// [`RESERVED_FDS`] and the files already open. `None` when the limit
/// cannot be read (or is unlimited).
pub(super) fn connection_room() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: a valid rlimit; failing leaves the soft limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let room = limit.rlim_cur.saturating_sub(open + RESERVED_FDS).max(1);
    Some(usize::try_from(room).unwrap_or(usize::MAX))
}

/// `requested` connections, lowered to what the open-file limit allows;
/// a lowered cap is logged at `warn`, naming both numbers.
pub(super) fn connection_cap(requested: usize) -> usize {
    match connection_room() {
        Some(room) if room < requested => {
            tracing::warn!(
                requested,
                allowed = room,
                "the open-file limit leaves room for {room} connections: serving at most {room} at once, not {requested}"
            );
            room
        }
        _ => requested,
    }
}
