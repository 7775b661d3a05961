//! `search`: Docker Hub's v1 search API, or for another registry its v1
//! search when it has one and else its v2 catalog filtered by the term.

use serde::Deserialize;

use super::client::{self, Client, encode};
use super::config::RegistriesConfig;
use super::credentials;
use super::error::RegistryError;
use crate::runtime::image::reference::DEFAULT_DOMAIN;

const HUB_INDEX: &str = "https://index.docker.io";
/// The most registries return per page (distribution's limit is 1000).
const CATALOG_PAGE: usize = 100;
const MAX_CATALOG: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct SearchResult {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Debug, Deserialize)]
struct V1Results {
    #[serde(default)]
    results: Vec<SearchResult>,
}

#[derive(Debug, Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Vec<String>,
}

/// Splits `registry.lan:5000/term` into registry and term; a plain term
/// searches Docker Hub.
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        return (first.to_string(), rest.to_string());
    }
    (DEFAULT_DOMAIN.to_string(), term.to_string())
}

pub fn search(
    registries: &RegistriesConfig,
    term: &str,
    limit: usize,
) -> Result<Vec<SearchResult>, RegistryError> {
    let (domain, needle) = split_term(term);
    let mut endpoint = registries.endpoint(&domain);
    if domain == DEFAULT_DOMAIN {
        endpoint.base = HUB_INDEX.to_string();
        endpoint.host = "index.docker.io".to_string();
    }
    let credentials = credentials::lookup(&domain)?;
    let client = Client::with_scopes(
        client::agent(),
        endpoint,
        "",
        vec!["registry:catalog:*".to_string()],
        credentials,
    );
    let v1 = format!("/v1/search?q={}&n={limit}", encode(&needle));
    let (status, body) = client.get_raw(&v1)?;
    if (200..300).contains(&status) {
        return parse_v1(&body, limit).map_err(|reason| invalid(&client, &v1, reason));
    }
    if domain == DEFAULT_DOMAIN {
        return Err(RegistryError::Status {
            url: format!("{HUB_INDEX}{v1}"),
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let names = catalog(&client)?;
    Ok(filter_catalog(&domain, &needle, names, limit))
}

/// Every repository name, a page at a time (`last=` pagination).
fn catalog(client: &Client) -> Result<Vec<String>, RegistryError> {
    let mut names: Vec<String> = Vec::new();
    loop {
        let mut path = format!("/v2/_catalog?n={CATALOG_PAGE}");
        if let Some(last) = names.last() {
            path.push_str(&format!("&last={}", encode(last)));
        }
        let (status, body) = client.get_raw(&path)?;
        if !(200..300).contains(&status) {
            return Err(RegistryError::Status {
                url: format!("{}{path}", client.endpoint().base),
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let page = parse_catalog(&body).map_err(|reason| invalid(client, &path, reason))?;
        let done = page.len() < CATALOG_PAGE || names.len() >= MAX_CATALOG;
        names.extend(page);
        if done {
            return Ok(names);
        }
    }
}

fn invalid(client: &Client, path: &str, reason: String) -> RegistryError {
    RegistryError::Invalid {
        what: "search response",
        url: format!("{}{path}", client.endpoint().base),
        reason,
    }
}

pub fn parse_v1(body: &[u8], limit: usize) -> Result<Vec<SearchResult>, String> {
    let parsed: V1Results = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(parsed.results.into_iter().take(limit).collect())
}

fn parse_catalog(body: &[u8]) -> Result<Vec<String>, String> {
    let parsed: Catalog = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(parsed.repositories)
}

/// Catalog names containing the term, as pullable names.
fn filter_catalog(
    domain: &str,
    needle: &str,
    names: Vec<String>,
    limit: usize,
) -> Vec<SearchResult> {
    names
        .into_iter()
        .filter(|n| n.contains(needle))
        .take(limit)
        .map(|n| SearchResult {
            name: format!("{domain}/{n}"),
            description: String::new(),
            star_count: 0,
            is_official: false,
            is_automated: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_registry() {
        assert_eq!(
            split_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("user/app"),
            ("docker.io".into(), "user/app".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(split_term("localhost/x"), ("localhost".into(), "x".into()));
    }

    #[test]
    fn hub_v1_format() {
        let body = br#"{"num_pages":1,"num_results":2,"page":1,"query":"busybox","results":[
            {"name":"busybox","description":"Busybox base image.","star_count":3200,"is_official":true,"is_automated":false},
            {"name":"user/busybox-tools","description":"","star_count":3,"is_official":false,"is_automated":true}]}"#;
        let r = parse_v1(body, 25).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "busybox");
        assert!(r[0].is_official && r[1].is_automated);
        assert_eq!(r[0].star_count, 3200);
        assert_eq!(parse_v1(body, 1).unwrap().len(), 1);
        assert!(parse_v1(b"<html>", 5).is_err());
    }

    #[test]
    fn catalog_is_filtered() {
        let names =
            parse_catalog(br#"{"repositories":["busybox","app/web","tools/busy-cli"]}"#).unwrap();
        let r = filter_catalog("127.0.0.1:5000", "busy", names, 10);
        let found: Vec<&str> = r.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            found,
            ["127.0.0.1:5000/busybox", "127.0.0.1:5000/tools/busy-cli"]
        );
    }
}
