//! element (work in progress)
