//! Authorization codes, refresh-token families and revoked access tokens.
//! Single-use things are consumed with atomic compare-and-swap batches.

use super::audit::audit_op;
use super::backend::{Op, Tree};
use super::{
    AuditEvent, AuthCode, IssuedJwt, RedeemedCode, Redemption, RefreshFamily, RefreshTokenRef, Result, RetryWindow,
    RevokedJti, Store, Stored, User, decode, decode_stored, encode,
};
use crate::crypto::secrets::Digest;
use uuid::Uuid;

/// What presenting a refresh token found.
pub enum RefreshOutcome {
    Valid(Box<Stored<RefreshFamily>>),
    /// The token the family's last rotation replaced, presented again by
    /// its client within the reuse interval (`RetryRule`): forgiven, the
    /// family as it is.
    Retry(Box<Stored<RefreshFamily>>),
    /// An already-rotated token: the family has now been revoked.
    Reused,
    Unknown,
}

/// The new state of a family after one rotation.
pub struct Rotation {
    pub new_token: Digest,
    pub access: IssuedJwt,
    /// What a retry of this rotation needs, if the client may retry it.
    pub retry: Option<RetryWindow>,
}

/// When a rotated token presented again is a retry, not a reuse: by the
/// family's own client, within `interval` seconds of its rotation (the
/// application's `refresh_reuse_interval`).
#[derive(Clone, Copy)]
pub struct RetryRule<'a> {
    pub client: &'a crate::domain::ClientId,
    pub interval: i64,
}

impl RetryRule<'_> {
    fn forgives(&self, family: &RefreshFamily, token: &Digest, now: i64) -> bool {
        self.interval > 0
            && family.client_id == *self.client
            && family.retry.as_ref().is_some_and(|r| r.previous == *token && now - r.rotated_at <= self.interval)
    }
}

/// An authorization code as found.
#[derive(Debug)]
pub enum CodeState {
    /// Not redeemed yet, with the bytes it was read from (`redeem_code`
    /// expects them).
    Issued(Box<Stored<AuthCode>>),
    /// Redeemed once: presenting it again is a replay.
    Redeemed(RedeemedCode),
}

/// A code's record: a redeemed one in its short form, an issued one, or
/// one an older ferrid redeemed in place (the whole `AuthCode`, with
/// `redeemed` set), which reads as redeemed.
fn decode_code(raw: Vec<u8>) -> Result<CodeState> {
    // An issued code has no `client_id` beside its request, so it never
    // reads as a redeemed one.
    if let Ok(redeemed) = serde_json::from_slice::<RedeemedCode>(&raw) {
        return Ok(CodeState::Redeemed(redeemed));
    }
    let stored: Stored<AuthCode> = decode_stored(raw)?;
    Ok(match &stored.redeemed {
        Some(first) => CodeState::Redeemed(RedeemedCode {
            client_id: stored.request.client_id.clone(),
            redeemed: first.clone(),
            expires_at: stored.expires_at,
        }),
        None => CodeState::Issued(Box::new(stored)),
    })
}

/// The batch steps that start `family` with its first token `token`: the
/// family must not exist yet (a replay can only name an existing one).
pub(super) fn new_family_ops(family: &RefreshFamily, token: &Digest) -> [Op; 3] {
    let id = family.id.as_bytes().to_vec();
    [
        Op::Expect(Tree::Families, id.clone(), None),
        Op::Put(Tree::Families, id, encode(family)),
        Op::Put(
            Tree::RefreshTokens,
            token.as_bytes().to_vec(),
            encode(&RefreshTokenRef { family: family.id, expires_at: family.expires_at }),
        ),
    ]
}

impl Store {
    pub fn put_code(&self, code: &Digest, record: &AuthCode) -> Result<()> {
        self.kv.put(Tree::Codes, code.as_bytes(), &encode(record))?;
        Ok(())
    }

    pub fn code(&self, code: &Digest) -> Result<Option<CodeState>> {
        self.kv.get(Tree::Codes, code.as_bytes())?.map(decode_code).transpose()
    }

    /// A code and the user `sub` names (the one the code says it was
    /// issued for), read together: one round trip on PostgreSQL. The user
    /// is None if there is none by that sub; the caller checks that it is
    /// the code's.
    pub fn code_with_user(&self, code: &Digest, sub: &Uuid) -> Result<(Option<CodeState>, Option<User>)> {
        let found = self.kv.get_many(&[(Tree::Codes, code.as_bytes()), (Tree::Users, sub.as_bytes())])?;
        let mut found = found.into_iter();
        let code = found.next().flatten().map(decode_code).transpose()?;
        let user = found.next().flatten().map(|raw| decode(&raw)).transpose()?;
        Ok((code, user))
    }

    /// Marks a code redeemed if, and only if, nobody redeemed it first, and
    /// starts the refresh family it yields (if any) in the same atomic write,
    /// durably: a code must stay used after a crash (RFC 6749 §4.1.2). A
    /// replay can only learn the family's id from the redeemed code, so it
    /// revokes an existing family; the `Expect` on the id is a second guard.
    /// `event` is recorded in the same write: there is no issuance without
    /// its audit event, nor an event without the issuance. The code is
    /// kept as a [`RedeemedCode`] (the request is no longer needed).
    pub fn redeem_code(
        &self,
        code: &Digest,
        seen: &Stored<AuthCode>,
        redemption: Redemption,
        family: Option<(&RefreshFamily, &Digest)>,
        event: &AuditEvent,
    ) -> Result<bool> {
        let redeemed = RedeemedCode {
            client_id: seen.request.client_id.clone(),
            redeemed: redemption,
            expires_at: seen.expires_at,
        };
        let key = code.as_bytes().to_vec();
        let mut ops = vec![
            Op::Expect(Tree::Codes, key.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::Codes, key, encode(&redeemed)),
        ];
        if let Some((family, token)) = family {
            ops.extend(new_family_ops(family, token));
        }
        ops.push(audit_op(event));
        let ok = self.kv.apply(ops)?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// Looks a presented refresh token up; a rotated one revokes its family.
    pub fn present_refresh_token(&self, token: &Digest, now: i64) -> Result<RefreshOutcome> {
        self.present_refresh_token_under(token, now, None)
    }

    /// As `present_refresh_token`, forgiving a retry `rule` allows.
    pub fn present_refresh_token_under(
        &self,
        token: &Digest,
        now: i64,
        rule: Option<RetryRule<'_>>,
    ) -> Result<RefreshOutcome> {
        let Some(reference) = self.get::<RefreshTokenRef>(Tree::RefreshTokens, token.as_bytes())? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let family = self.get_stored::<RefreshFamily>(Tree::Families, reference.family.as_bytes())?;
        self.judge_refresh_token(token, family, now, rule)
    }

    /// As `present_refresh_token`, for a token that says which family it
    /// belongs to and whose user that is: its reference, its family and
    /// the user are read together (one round trip on PostgreSQL). The user
    /// is None if there is none by that sub; the caller checks that it is
    /// the family's.
    pub fn present_refresh_token_of(
        &self,
        token: &Digest,
        family: &Uuid,
        sub: &Uuid,
        now: i64,
        rule: Option<RetryRule<'_>>,
    ) -> Result<(RefreshOutcome, Option<User>)> {
        let found = self.kv.get_many(&[
            (Tree::RefreshTokens, token.as_bytes()),
            (Tree::Families, family.as_bytes()),
            (Tree::Users, sub.as_bytes()),
        ])?;
        let mut found = found.into_iter();
        let reference = found.next().flatten().map(|raw| decode::<RefreshTokenRef>(&raw)).transpose()?;
        let Some(reference) = reference else { return Ok((RefreshOutcome::Unknown, None)) };
        if reference.family != *family {
            // Not what the token said: believe the stored reference alone.
            return Ok((self.present_refresh_token_under(token, now, rule)?, None));
        }
        let seen = found.next().flatten().map(decode_stored::<RefreshFamily>).transpose()?;
        let user = found.next().flatten().map(|raw| decode(&raw)).transpose()?;
        Ok((self.judge_refresh_token(token, seen, now, rule)?, user))
    }

    fn judge_refresh_token(
        &self,
        token: &Digest,
        family: Option<Stored<RefreshFamily>>,
        now: i64,
        rule: Option<RetryRule<'_>>,
    ) -> Result<RefreshOutcome> {
        let Some(family) = family else { return Ok(RefreshOutcome::Unknown) };
        if family.revoked || family.expires_at <= now {
            return Ok(RefreshOutcome::Unknown);
        }
        if family.current.as_ref() != Some(token) && rule.is_some_and(|r| r.forgives(&family, token, now)) {
            return Ok(RefreshOutcome::Retry(Box::new(family)));
        }
        if family.current.as_ref() != Some(token) {
            self.revoke_family(family.id, now)?;
            return Ok(RefreshOutcome::Reused);
        }
        Ok(RefreshOutcome::Valid(Box::new(family)))
    }

    /// Replaces the family's current token, unless someone else rotated it
    /// first, and records `event` in the same write.
    pub fn rotate_family(&self, seen: &Stored<RefreshFamily>, rotation: &Rotation, event: &AuditEvent) -> Result<bool> {
        let mut next = seen.record.clone();
        next.current = Some(rotation.new_token);
        next.generation += 1;
        next.last_access = Some(rotation.access.clone());
        next.retry = rotation.retry.clone();
        let id = seen.id.as_bytes().to_vec();
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::Families, id.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::Families, id, encode(&next)),
            Op::Put(
                Tree::RefreshTokens,
                rotation.new_token.as_bytes().to_vec(),
                encode(&RefreshTokenRef { family: seen.id, expires_at: seen.expires_at }),
            ),
            audit_op(event),
        ])?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// Revokes a family and the last access token it produced. Leaves a
    /// tombstone if the family does not exist yet, so it can never be created.
    pub fn revoke_family(&self, id: Uuid, now: i64) -> Result<()> {
        let key = id.as_bytes();
        let existing: Option<RefreshFamily> = self.get(Tree::Families, key)?;
        let tombstone_until = now + 86_400;
        let revoked = match existing {
            Some(mut family) => {
                family.revoked = true;
                family.current = None;
                if let Some(access) = &family.last_access {
                    self.put_revoked_jti(access)?;
                }
                family
            }
            None => RefreshFamily {
                id,
                client_id: crate::domain::ClientId::parse("revoked").map_err(|e| super::StoreError::Corrupt(e.0))?,
                sub: Uuid::nil(),
                scope: Default::default(),
                auth_time: 0,
                current: None,
                generation: 0,
                revoked: true,
                last_access: None,
                created_at: now,
                expires_at: tombstone_until,
                user_epoch: 0,
                sid: None,
                amr: vec![],
                retry: None,
            },
        };
        self.kv.put(Tree::Families, key, &encode(&revoked))?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// Durably: a client told its token is revoked must not see it honoured
    /// again after a crash.
    pub fn revoke_access_token(&self, access: &IssuedJwt) -> Result<()> {
        self.put_revoked_jti(access)?;
        self.kv.make_durable()?;
        Ok(())
    }

    fn put_revoked_jti(&self, access: &IssuedJwt) -> Result<()> {
        self.kv.put(
            Tree::RevokedJtis,
            access.jti.as_bytes(),
            &encode(&RevokedJti { expires_at: access.expires_at }),
        )?;
        Ok(())
    }

    pub fn is_access_token_revoked(&self, jti: &Uuid) -> Result<bool> {
        Ok(self.kv.get(Tree::RevokedJtis, jti.as_bytes())?.is_some())
    }

    pub fn family(&self, id: &Uuid) -> Result<Option<RefreshFamily>> {
        self.kv.get(Tree::Families, id.as_bytes())?.map(|b| decode(&b)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AuditKind, IssuedJwt, testing::temp_store};
    use super::*;
    use crate::domain::ClientId;

    fn user() -> User {
        User::for_test("alice", String::new())
    }

    fn issued(store: &Store) -> usize {
        store.audit_since(0).unwrap().iter().filter(|e| e.kind == Some(AuditKind::TokenIssued)).count()
    }

    #[test]
    fn a_rotation_and_its_audit_event_are_written_together_or_not_at_all_after_one_read_of_all_three() {
        let (_dir, store) = temp_store();
        let alice = user();
        store.create_user(&alice).unwrap();
        let first = Digest::of("first");
        let family = RefreshFamily {
            id: Uuid::new_v4(),
            client_id: ClientId::parse("web").unwrap(),
            sub: alice.sub,
            scope: Default::default(),
            auth_time: 0,
            current: Some(first),
            generation: 0,
            revoked: false,
            last_access: None,
            created_at: 0,
            expires_at: 1_000,
            user_epoch: 0,
            sid: None,
            amr: vec![],
            retry: None,
        };
        store.kv.put(Tree::Families, family.id.as_bytes(), &encode(&family)).unwrap();
        let reference = RefreshTokenRef { family: family.id, expires_at: 1_000 };
        store.kv.put(Tree::RefreshTokens, first.as_bytes(), &encode(&reference)).unwrap();

        // Read together: the reference, the family and the user.
        let (RefreshOutcome::Valid(seen), Some(read)) =
            store.present_refresh_token_of(&first, &family.id, &alice.sub, 10, None).unwrap()
        else {
            panic!("a valid token, read with its user");
        };
        assert_eq!((seen.id, read.sub), (family.id, alice.sub));
        let unknown = store.present_refresh_token_of(&Digest::of("forged"), &family.id, &alice.sub, 10, None).unwrap();
        assert!(matches!(unknown, (RefreshOutcome::Unknown, None)), "no reference: nothing, whatever it names");

        // A rotation that loses its compare-and-swap records nothing; one
        // that wins records its event in the same write.
        let event = AuditEvent::new(AuditKind::TokenIssued, 10).user("alice");
        let rotation = |name: &str| Rotation {
            new_token: Digest::of(name),
            access: IssuedJwt { jti: Uuid::new_v4(), expires_at: 100 },
            retry: None,
        };
        assert!(store.rotate_family(&seen, &rotation("second"), &event).unwrap());
        assert_eq!(issued(&store), 1);
        assert!(!store.rotate_family(&seen, &rotation("third"), &event).unwrap(), "rotated already");
        assert_eq!(issued(&store), 1, "no event without its rotation");
        assert!(store.kv.get(Tree::RefreshTokens, Digest::of("third").as_bytes()).unwrap().is_none());

        // The rotated token, presented again: reuse.
        let (reused, _) = store.present_refresh_token_of(&first, &family.id, &alice.sub, 10, None).unwrap();
        assert!(matches!(reused, RefreshOutcome::Reused));
    }

    /// An issued code as ferrid stores it, `redeemed` as given (an older
    /// ferrid kept the whole code and set `redeemed` on redemption).
    fn code_json(redeemed: &str) -> String {
        format!(
            r#"{{"request":{{"client_id":"web","redirect_uri":"https://web.example/cb","scope":"openid offline_access","state":"s","nonce":"n","code_challenge":null,"response_mode":"Query","max_age":null,"force_login":false,"force_consent":false,"acr_mfa":false}},"sub":"{}","auth_time":5,"user_epoch":0,"sid":"sid","amr":["pwd"],"valid_until":70,"expires_at":670,"redeemed":{redeemed}}}"#,
            Uuid::new_v4()
        )
    }

    #[test]
    fn a_code_an_older_ferrid_redeemed_in_full_still_reads_as_redeemed() {
        let (_dir, store) = temp_store();
        let family = Uuid::new_v4();
        let jti = Uuid::new_v4();
        let old = code_json(&format!(r#"{{"family":"{family}","access":{{"jti":"{jti}","expires_at":100}}}}"#));
        let key = Digest::of("old code");
        store.kv.put(Tree::Codes, key.as_bytes(), old.as_bytes()).unwrap();
        let Some(CodeState::Redeemed(first)) = store.code(&key).unwrap() else { panic!("a replay") };
        assert_eq!((first.redeemed.family, first.redeemed.access.jti), (Some(family), jti));
        assert_eq!((first.client_id.as_str(), first.expires_at), ("web", 670));
        assert_eq!(store.purge_expired(669).unwrap(), 0, "kept until its expiry");
        assert_eq!(store.purge_expired(670).unwrap(), 1);
    }

    #[test]
    fn a_redeemed_code_keeps_only_what_a_replay_needs_and_is_redeemed_once() {
        let (_dir, store) = temp_store();
        let key = Digest::of("code");
        let code: AuthCode = serde_json::from_str(&code_json("null")).unwrap();
        store.put_code(&key, &code).unwrap();
        let Some(CodeState::Issued(seen)) = store.code(&key).unwrap() else { panic!("not redeemed yet") };
        let redemption = || Redemption { family: None, access: IssuedJwt { jti: Uuid::new_v4(), expires_at: 100 } };
        let event = AuditEvent::new(AuditKind::TokenIssued, 10);
        let first = redemption();
        assert!(store.redeem_code(&key, &seen, first.clone(), None, &event).unwrap());
        assert!(!store.redeem_code(&key, &seen, redemption(), None, &event).unwrap(), "redeemed already");

        let Some(CodeState::Redeemed(found)) = store.code(&key).unwrap() else { panic!("a replay") };
        assert_eq!((found.redeemed.access.jti, found.client_id.as_str()), (first.access.jti, "web"));
        assert_eq!(found.expires_at, 670, "recognised as a replay as long as before");
        let raw = store.kv.get(Tree::Codes, key.as_bytes()).unwrap().unwrap();
        assert!(raw.len() < 200, "{} bytes: {}", raw.len(), String::from_utf8_lossy(&raw));
        assert_eq!(issued(&store), 1);
    }

    #[test]
    fn several_keys_come_back_in_the_order_asked_absent_ones_as_none() {
        let (_dir, store) = temp_store();
        let alice = user();
        store.create_user(&alice).unwrap();
        let sub = alice.sub.as_bytes().as_slice();
        let found = store
            .kv
            .get_many(&[(Tree::Users, sub), (Tree::Codes, b"none"), (Tree::Usernames, b"alice"), (Tree::Users, sub)])
            .unwrap();
        let user: Option<User> = found[0].as_deref().map(|raw| decode(raw).unwrap());
        assert_eq!(user.map(|u| u.sub), Some(alice.sub));
        assert_eq!(found[1], None);
        assert_eq!(found[2].as_deref(), Some(sub), "another tree");
        assert_eq!(found[3], found[0], "asked twice, given twice");
        assert_eq!(found.len(), 4);
        assert!(store.kv.get_many(&[]).unwrap().is_empty());
    }
}
