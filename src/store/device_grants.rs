//! Device authorizations (RFC 8628): a device asked for one and shows its
//! user code; the user approves or denies it on `/device`; the device
//! polls with its device code until then. Kept by the digest of the device
//! code (never the code), with the user code's digest as an index while
//! the request waits. Every change is a compare-and-swap, so an approval,
//! a denial and a poll racing on one request cannot both win.

use super::audit::audit_op;
use super::backend::{Op, Tree};
use super::{AuditEvent, RefreshFamily, Result, Store, Stored, decode, encode};
use crate::crypto::secrets::Digest;
use crate::domain::{ClientId, ScopeSet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One device authorization request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceGrant {
    pub client_id: ClientId,
    pub scope: ScopeSet,
    /// The digest of its user code: the key of its `UserCodes` entry.
    pub user_code: Digest,
    pub created_at: i64,
    pub expires_at: i64,
    /// The least time between two polls; `slow_down` adds 5 s (RFC 8628 §3.5).
    pub interval: i64,
    /// When the device last polled.
    #[serde(default)]
    pub last_poll: Option<i64>,
    pub state: DeviceState,
}

/// Where a device authorization stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum DeviceState {
    /// Waiting for the user.
    Pending,
    /// The user approved it, signed in as below: the next poll gets tokens.
    Approved {
        sub: Uuid,
        /// The user's epoch at approval: a new password or a disable since
        /// ends it.
        user_epoch: u32,
        auth_time: i64,
        amr: Vec<String>,
        /// The session it was approved in (its public id), for `sid`.
        sid: Option<String>,
    },
    /// The user said no: the next poll gets `access_denied`.
    Denied,
    /// Tokens were issued: the device code is spent.
    Redeemed,
}

/// A `UserCodes` entry.
#[derive(Serialize, Deserialize)]
struct UserCodeEntry {
    device: Digest,
    expires_at: i64,
}

impl Store {
    /// Stores a new request and its user code, durably (the codes are
    /// handed out next). False if the user code is taken by another
    /// request that still waits: the caller draws another.
    pub fn create_device_grant(&self, device: &Digest, grant: &DeviceGrant) -> Result<bool> {
        let code_key = grant.user_code.as_bytes().to_vec();
        let entry = UserCodeEntry { device: *device, expires_at: grant.expires_at };
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::UserCodes, code_key.clone(), None),
            Op::Expect(Tree::DeviceGrants, device.as_bytes().to_vec(), None),
            Op::Put(Tree::UserCodes, code_key, encode(&entry)),
            Op::Put(Tree::DeviceGrants, device.as_bytes().to_vec(), encode(grant)),
        ])?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    pub fn device_grant(&self, device: &Digest) -> Result<Option<Stored<DeviceGrant>>> {
        self.get_stored(Tree::DeviceGrants, device.as_bytes())
    }

    /// The request a user code (its digest) is for, while it waits.
    pub fn device_grant_by_user_code(&self, user_code: &Digest) -> Result<Option<(Digest, Stored<DeviceGrant>)>> {
        let Some(raw) = self.kv.get(Tree::UserCodes, user_code.as_bytes())? else { return Ok(None) };
        let entry: UserCodeEntry = decode(&raw)?;
        Ok(self.device_grant(&entry.device)?.map(|grant| (entry.device, grant)))
    }

    /// Writes `next` if the request is still as `seen`: true for the one
    /// caller that wins. A request that stops waiting loses its user code
    /// (a code is used once). `durable`: an answer of the user's must
    /// survive a crash; a poll's time need not.
    pub fn update_device_grant(
        &self,
        device: &Digest,
        seen: &Stored<DeviceGrant>,
        next: &DeviceGrant,
        durable: bool,
    ) -> Result<bool> {
        let key = device.as_bytes().to_vec();
        let mut ops = vec![
            Op::Expect(Tree::DeviceGrants, key.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::DeviceGrants, key, encode(next)),
        ];
        if next.state != DeviceState::Pending {
            ops.push(Op::Remove(Tree::UserCodes, seen.user_code.as_bytes().to_vec()));
        }
        if !durable {
            return Ok(self.kv.apply_ephemeral(ops)?);
        }
        let ok = self.kv.apply(ops)?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// Marks an approved request redeemed if nobody redeemed it first, and
    /// starts the refresh family it yields (if any) and records `event`,
    /// in one durable write (as `redeem_code`).
    pub fn redeem_device_grant(
        &self,
        device: &Digest,
        seen: &Stored<DeviceGrant>,
        family: Option<(&RefreshFamily, &Digest)>,
        event: &AuditEvent,
    ) -> Result<bool> {
        let key = device.as_bytes().to_vec();
        let spent = DeviceGrant { state: DeviceState::Redeemed, ..seen.record.clone() };
        let mut ops = vec![
            Op::Expect(Tree::DeviceGrants, key.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::DeviceGrants, key, encode(&spent)),
        ];
        if let Some((family, token)) = family {
            ops.extend(super::grants::new_family_ops(family, token));
        }
        ops.push(audit_op(event));
        let ok = self.kv.apply(ops)?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn grant(user_code: &Digest) -> DeviceGrant {
        DeviceGrant {
            client_id: ClientId::parse("tv").unwrap(),
            scope: ScopeSet::parse("openid"),
            user_code: *user_code,
            created_at: 100,
            expires_at: 700,
            interval: 5,
            last_poll: None,
            state: DeviceState::Pending,
        }
    }

    #[test]
    fn a_user_code_finds_its_request_until_it_is_answered_and_one_answer_wins() {
        let (_dir, store) = temp_store();
        let (device, code) = (Digest::of("device"), Digest::of("BDFGHJKL"));
        assert!(store.create_device_grant(&device, &grant(&code)).unwrap());
        assert!(!store.create_device_grant(&Digest::of("other"), &grant(&code)).unwrap(), "the code is taken");
        let (found, seen) = store.device_grant_by_user_code(&code).unwrap().unwrap();
        assert_eq!(found, device);
        let approved =
            DeviceState::Approved { sub: Uuid::new_v4(), user_epoch: 0, auth_time: 1, amr: vec![], sid: None };
        let approve = DeviceGrant { state: approved.clone(), ..seen.record.clone() };
        let deny = DeviceGrant { state: DeviceState::Denied, ..seen.record.clone() };
        assert!(store.update_device_grant(&device, &seen, &approve, true).unwrap());
        assert!(!store.update_device_grant(&device, &seen, &deny, true).unwrap(), "the second answer loses");
        assert!(store.device_grant_by_user_code(&code).unwrap().is_none(), "the code is used once");
        assert_eq!(store.device_grant(&device).unwrap().unwrap().state, approved);
        assert_eq!(store.purge_expired(700).unwrap(), 1, "gone when it expires");
    }
}
