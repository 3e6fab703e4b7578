//! The lockfile's package entries, as `pkg install --lock FILE` reads them
//! to know an archive's sha256. A private stand-in of the shape of
//! `crate::lockfile::{Lockfile, LockedPackage}`, which is merged separately:
//! when it is, delete this file and use that module (same names, same
//! `read`).

use std::path::Path;

use semver::Version;
use serde::{Deserialize, Deserializer};

use crate::error::UserError;
use crate::yaml;

#[derive(Debug, Deserialize)]
pub struct Lockfile {
    #[serde(default)]
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    #[serde(deserialize_with = "version")]
    pub version: Version,
    pub sha256: String,
}

fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
    let text = String::deserialize(d)?;
    Version::parse(&text).map_err(serde::de::Error::custom)
}

impl Lockfile {
    pub fn read(path: &Path) -> Result<Lockfile, UserError> {
        yaml::parse(path, &yaml::read(path, "lockfile")?)
    }
}
