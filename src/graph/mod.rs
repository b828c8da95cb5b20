//! graph (work in progress)
