//! What pulls and pushes report while they run; the CLI decides how it looks
//! (bars on a terminal, docker's plain lines otherwise, nothing with -q).

/// Per-layer states, named as docker prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Waiting,
    AlreadyExists,
    Downloading,
    Retrying(u32),
    DownloadComplete,
    Extracting,
    PullComplete,
    Preparing,
    Pushing,
    Pushed,
    LayerExists,
    Mounted(String),
}

impl LayerStatus {
    pub fn text(&self) -> String {
        match self {
            LayerStatus::Waiting => "Pulling fs layer".into(),
            LayerStatus::AlreadyExists => "Already exists".into(),
            LayerStatus::Downloading => "Downloading".into(),
            LayerStatus::Retrying(n) => format!("Retrying (attempt {n})"),
            LayerStatus::DownloadComplete => "Download complete".into(),
            LayerStatus::Extracting => "Extracting".into(),
            LayerStatus::PullComplete => "Pull complete".into(),
            LayerStatus::Preparing => "Preparing".into(),
            LayerStatus::Pushing => "Pushing".into(),
            LayerStatus::Pushed => "Pushed".into(),
            LayerStatus::LayerExists => "Layer already exists".into(),
            LayerStatus::Mounted(from) => format!("Mounted from {from}"),
        }
    }

    /// States after which the layer's bar is finished.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LayerStatus::AlreadyExists
                | LayerStatus::PullComplete
                | LayerStatus::Pushed
                | LayerStatus::LayerExists
                | LayerStatus::Mounted(_)
        )
    }
}

pub trait Progress: Sync {
    /// A whole line: "latest: Pulling from library/busybox", "Digest: ...".
    fn line(&self, text: &str);
    /// Layer `id` (12 hex digits) changed state; `total` is its size in bytes.
    fn layer(&self, id: &str, status: LayerStatus, total: u64);
    /// `done` of the layer's bytes are through.
    fn bytes(&self, id: &str, done: u64);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn line(&self, _: &str) {}
    fn layer(&self, _: &str, _: LayerStatus, _: u64) {}
    fn bytes(&self, _: &str, _: u64) {}
}
