//! An element's sources as the build pipeline uses them: cached state, fetching, staging.

use super::{Element, ElementSource};
use crate::source::fetch::{stage, FetchContext, SourceError};
use std::path::Path;

impl Element {
    /// The element's sources, in `sources:` order (each with its `directory:` and fetcher).
    pub fn sources(&self) -> &[ElementSource] {
        &self.sources
    }

    /// The sources whose fetch is still needed (`Source._is_cached()` false), with indexes.
    pub fn uncached_sources<'a>(
        &'a self,
        ctx: &'a FetchContext,
    ) -> impl Iterator<Item = (usize, &'a ElementSource)> + 'a {
        self.sources
            .iter()
            .enumerate()
            .filter(move |(_, s)| !s.fetcher.is_cached(ctx))
    }

    /// Are all sources present locally?
    pub fn sources_cached(&self, ctx: &FetchContext) -> bool {
        self.uncached_sources(ctx).next().is_none()
    }

    /// Stages all sources into `dir` (created if missing; must be empty), as BuildStream's
    /// `_stage_sources_at` does: see [`stage::stage_sources`].
    pub fn stage_sources(&self, ctx: &FetchContext, dir: &Path) -> Result<(), SourceError> {
        stage::stage_sources(
            ctx,
            self.sources
                .iter()
                .map(|s| (&s.fetcher, s.directory.as_deref())),
            dir,
        )
        .map_err(|e| {
            let index = e.index.unwrap_or(0);
            SourceError {
                element: Some(self.full_name.clone()),
                index: Some(index),
                ..e
            }
        })
    }
}
