//! Calgary / CalIOC2 device model core (placeholder; see issue 4).
