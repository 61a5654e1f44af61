//! TEMPORARY STUB
pub fn run(_resolved: crate::cli::Resolved) -> anyhow::Result<i32> {
    anyhow::bail!("interactive mode is not available yet")
}
