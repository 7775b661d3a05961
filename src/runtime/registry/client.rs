//! One repository on one registry endpoint, over the distribution API
//! (`/v2/`), with docker's token dance: a 401 names a realm; berth asks it
//! for a token for `repository:<name>:<actions>` (with the saved login, if
//! any, as Basic credentials) and retries once.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

use super::challenge::{self, Challenge};
use super::config::Endpoint;
use super::credentials::Credentials;
use super::error::RegistryError;
use crate::runtime::image::Digest;

/// Every manifest format berth reads, docker's and OCI's.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
/// Manifests and indexes are small; anything larger is refused unread.
const MAX_MANIFEST: u64 = 4 << 20;

/// A manifest (or index) as the registry sent it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// The outcome of starting a blob upload.
#[derive(Debug)]
pub enum UploadStart {
    /// The registry linked the blob from another repository.
    Mounted,
    /// Upload to this URL.
    Upload(String),
}

pub struct Client {
    agent: Agent,
    endpoint: Endpoint,
    repository: String,
    scopes: Vec<String>,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

pub fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(8)
        .build()
        .into()
}

impl Client {
    /// A client for `repository` (`library/busybox`) on `endpoint`. `actions`
    /// is `pull` or `pull,push`; `extra_pulls` names other repositories whose
    /// blobs may be mounted (pushes).
    pub fn new(
        agent: Agent,
        endpoint: Endpoint,
        repository: &str,
        actions: &str,
        extra_pulls: &[String],
        credentials: Option<Credentials>,
    ) -> Client {
        let mut scopes = vec![format!("repository:{repository}:{actions}")];
        scopes.extend(extra_pulls.iter().map(|r| format!("repository:{r}:pull")));
        Client::with_scopes(agent, endpoint, repository, scopes, credentials)
    }

    /// A client for registry-wide calls (`/v2/`, the catalog) with the token
    /// scopes given (`registry:catalog:*`, or none for a login check).
    pub fn with_scopes(
        agent: Agent,
        endpoint: Endpoint,
        repository: &str,
        scopes: Vec<String>,
        credentials: Option<Credentials>,
    ) -> Client {
        Client {
            agent,
            endpoint,
            repository: repository.to_string(),
            scopes,
            credentials,
            authorization: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.endpoint.base, self.repository)
    }

    /// `GET /v2/`, authenticating if asked to: how `login` checks credentials.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.endpoint.base);
        let response = self.send(|agent, auth| with_auth(agent.get(&url), auth).call())?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::Unauthorized {
                host: self.endpoint.host.clone(),
            }),
            _ => Err(status_error(&url, response)),
        }
    }

    pub fn manifest(&self, reference: &str) -> Result<Fetched, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut response = self.send(|agent, auth| {
            with_auth(agent.get(&url), auth)
                .header("Accept", MANIFEST_ACCEPT)
                .call()
        })?;
        match response.status().as_u16() {
            200 => {}
            404 => {
                return Err(RegistryError::ManifestUnknown {
                    reference: format!("{}/{}:{reference}", self.endpoint.host, self.repository),
                });
            }
            _ => return Err(self.denied_or(&url, response)),
        }
        let media_type = header(&response, "content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| transport(&url, e))?;
        let digest = Digest::of_bytes(&bytes);
        if let Ok(expected) = Digest::parse(reference)
            && expected != digest
        {
            return Err(RegistryError::Invalid {
                what: "manifest",
                url,
                reason: format!("its content has digest {digest}, not {expected}"),
            });
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Starts reading blob `digest` from byte `offset`. The flag says whether
    /// the registry honoured the range (false: the body starts at byte 0).
    pub fn blob(&self, digest: &Digest, offset: u64) -> Result<(Body, bool), RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|agent, auth| {
            let request = with_auth(agent.get(&url), auth);
            if offset > 0 {
                request.header("Range", format!("bytes={offset}-")).call()
            } else {
                request.call()
            }
        })?;
        match response.status().as_u16() {
            200 => Ok((response.into_body(), false)),
            206 => Ok((response.into_body(), true)),
            404 => Err(RegistryError::BlobUnknown {
                repository: format!("{}/{}", self.endpoint.host, self.repository),
                digest: digest.to_string(),
            }),
            _ => Err(self.denied_or(&url, response)),
        }
    }

    /// A small blob (an image config), read whole and verified.
    pub fn blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let (mut body, _) = self.blob(digest, 0)?;
        let bytes = body
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| transport(&url, e))?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(RegistryError::Invalid {
                what: "blob",
                url,
                reason: format!("its content has digest {actual}"),
            });
        }
        Ok(bytes)
    }

    pub fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|agent, auth| with_auth(agent.head(&url), auth).call())?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.denied_or(&url, response)),
        }
    }

    /// `POST .../blobs/uploads/`, asking to mount `digest` from `from` when given.
    pub fn start_upload(
        &self,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let mut url = self.url("blobs/uploads/");
        if let Some((digest, from)) = mount {
            url.push_str(&format!(
                "?mount={}&from={}",
                encode(digest.as_str()),
                encode(from)
            ));
        }
        let response = self.send(|agent, auth| {
            with_auth(agent.post(&url), auth)
                .header("Content-Length", "0")
                .send_empty()
        })?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(UploadStart::Mounted),
            202 => Ok(UploadStart::Upload(self.location(&url, &response)?)),
            _ => Err(self.denied_or(&url, response)),
        }
    }

    /// Streams a blob into an upload session and completes it.
    pub fn upload(
        &self,
        location: &str,
        digest: &Digest,
        body: &mut dyn Read,
    ) -> Result<(), RegistryError> {
        let auth = self.current_auth();
        let response = with_auth(self.agent.patch(location), auth.as_deref())
            .header("Content-Type", "application/octet-stream")
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| transport(location, e))?;
        if response.status().as_u16() != 202 {
            return Err(status_error(location, response));
        }
        let next = self.location(location, &response)?;
        let sep = if next.contains('?') { '&' } else { '?' };
        let put = format!("{next}{sep}digest={}", encode(digest.as_str()));
        let response = with_auth(self.agent.put(&put), auth.as_deref())
            .header("Content-Length", "0")
            .send_empty()
            .map_err(|e| transport(&put, e))?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            _ => Err(status_error(&put, response)),
        }
    }

    pub fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{tag}"));
        let response = self.send(|agent, auth| {
            with_auth(agent.put(&url), auth)
                .header("Content-Type", media_type)
                .send(bytes)
        })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            _ => Err(self.denied_or(&url, response)),
        }
    }

    /// `GET <base><path>` with the token dance; the status is the caller's to judge.
    pub fn get_raw(&self, path_and_query: &str) -> Result<(u16, Vec<u8>), RegistryError> {
        let url = format!("{}{path_and_query}", self.endpoint.base);
        let mut response = self.send(|agent, auth| with_auth(agent.get(&url), auth).call())?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| transport(&url, e))?;
        Ok((status, bytes))
    }

    fn location(&self, url: &str, response: &Response<Body>) -> Result<String, RegistryError> {
        let loc = header(response, "location").ok_or_else(|| RegistryError::Invalid {
            what: "upload response",
            url: url.to_string(),
            reason: "no Location header".into(),
        })?;
        Ok(absolute(&self.endpoint.base, &loc))
    }

    fn current_auth(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    /// Sends with the current authorization; on a 401 answers the challenge
    /// and sends once more.
    fn send(
        &self,
        request: impl Fn(&Agent, Option<&str>) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let auth = self.current_auth();
        let response = request(&self.agent, auth.as_deref()).map_err(|e| self.unreachable(e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) =
            header(&response, "www-authenticate").and_then(|h| challenge::parse(&h))
        else {
            return Ok(response);
        };
        let Some(new_auth) = self.answer(&challenge)? else {
            return Ok(response);
        };
        if auth.as_deref() == Some(new_auth.as_str()) {
            return Ok(response);
        }
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(new_auth.clone());
        }
        request(&self.agent, Some(&new_auth)).map_err(|e| self.unreachable(e))
    }

    /// The Authorization header value a challenge asks for, if berth can give one.
    fn answer(&self, challenge: &Challenge) -> Result<Option<String>, RegistryError> {
        match challenge.scheme.as_str() {
            "basic" => Ok(self.credentials.as_ref().map(Credentials::basic_header)),
            "bearer" => self.token(challenge).map(Some),
            _ => Ok(None),
        }
    }

    fn token(&self, challenge: &Challenge) -> Result<String, RegistryError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| RegistryError::Invalid {
                what: "auth challenge",
                url: self.endpoint.base.clone(),
                reason: "Bearer challenge without a realm".into(),
            })?;
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(service) = challenge.param("service") {
            url.push_str(&format!("service={}&", encode(service)));
        }
        let scopes: Vec<String> = self
            .scopes
            .iter()
            .map(|s| format!("scope={}", encode(s)))
            .collect();
        url.push_str(&scopes.join("&"));
        let url = url.trim_end_matches(['&', '?']).to_string();
        let mut request = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            request = request.header("Authorization", c.basic_header());
        }
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    host: self.endpoint.host.clone(),
                });
            }
            _ => return Err(status_error(&url, response)),
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| transport(&url, e))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                what: "token response",
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| body.get(k).and_then(|v| v.as_str()))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Invalid {
                what: "token response",
                url: url.clone(),
                reason: "no token in it".into(),
            })?;
        Ok(format!("Bearer {token}"))
    }

    /// 401/403 as docker words them, anything else with its status.
    fn denied_or(&self, url: &str, response: Response<Body>) -> RegistryError {
        match response.status().as_u16() {
            401 | 403 if self.credentials.is_none() => RegistryError::Denied {
                repository: self.display_repository(),
            },
            401 | 403 => RegistryError::Unauthorized {
                host: self.endpoint.host.clone(),
            },
            _ => status_error(url, response),
        }
    }

    fn display_repository(&self) -> String {
        if self.endpoint.host == super::config::DOCKER_HUB_API {
            self.repository.trim_start_matches("library/").to_string()
        } else {
            format!("{}/{}", self.endpoint.host, self.repository)
        }
    }

    fn unreachable(&self, e: ureq::Error) -> RegistryError {
        RegistryError::Unreachable {
            host: self.endpoint.host.clone(),
            reason: e.to_string(),
        }
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<&str>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(a) => request.header("Authorization", a),
        None => request,
    }
}

pub(crate) fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn transport(url: &str, e: ureq::Error) -> RegistryError {
    RegistryError::Http {
        url: url.to_string(),
        reason: e.to_string(),
    }
}

pub(crate) fn status_error(url: &str, mut response: Response<Body>) -> RegistryError {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    RegistryError::Status {
        url: url.to_string(),
        status,
        body,
    }
}

/// Resolves a Location header against the endpoint.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        format!("{base}/{location}")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_encoding() {
        assert_eq!(
            absolute("http://h:5000", "/v2/x/blobs/uploads/u?s=1"),
            "http://h:5000/v2/x/blobs/uploads/u?s=1"
        );
        assert_eq!(absolute("http://h", "https://other/y"), "https://other/y");
        assert_eq!(encode("sha256:ab/c d"), "sha256%3Aab%2Fc%20d");
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
