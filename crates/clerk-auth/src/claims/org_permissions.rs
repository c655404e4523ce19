//! The v2 organization permissions (clerk-spec §1.6): `o.fpm` bit masks over the `o.per`
//! names, one mask per organization feature of `fea`, decoded exactly however long the masks.

use serde_json::{Map, Value};

use super::{non_empty_str, MalformedClaim, ScopedPart};

/// The v2 organization permissions (clerk-spec §1.6): each org feature's `fpm` mask selects
/// from the `per` names, giving `org:<feature>:<permission>`.
///
/// Clerk's JS SDK lines masks up with the org-scoped features only; its Go and Python SDKs with
/// the full `fea` list, skipping user-only entries. Clerk's own fixtures always carry one mask
/// per `fea` entry, so when the counts match the full list is used, otherwise the org-scoped
/// one (this reproduces every known fixture); a disagreement between the two is logged.
pub(super) fn decode_org_permissions(
    org: &Map<String, Value>,
    fea: &Result<Vec<ScopedPart<'_>>, MalformedClaim>,
) -> Vec<String> {
    let (Some(per), Some(fpm), Ok(features)) =
        (non_empty_str(org, "per"), non_empty_str(org, "fpm"), fea)
    else {
        return Vec::new();
    };
    let permissions: Vec<&str> = per.split(',').map(str::trim).collect();
    let masks: Vec<Option<Vec<bool>>> = fpm
        .split(',')
        .map(|mask| mask_bits(mask.trim(), permissions.len()))
        .collect();
    // Each org feature with its position in the full `fea` list.
    let org_features: Vec<(usize, &str)> = features
        .iter()
        .enumerate()
        .filter(|(_, part)| part.is_org())
        .map(|(position, part)| (position, part.name))
        .collect();

    let by_org_position = grant(
        org_features
            .iter()
            .enumerate()
            .map(|(k, &(_, name))| (k, name)),
        &masks,
        &permissions,
    );
    let by_full_position = grant(org_features.iter().copied(), &masks, &permissions);
    let use_full_list = masks.len() == features.len();
    if by_org_position != by_full_position {
        tracing::debug!(
            fea_entries = features.len(),
            fpm_entries = masks.len(),
            aligned_with = if use_full_list {
                "all fea entries"
            } else {
                "org fea entries"
            },
            "the JS and Go rules for lining up o.fpm with fea disagree on this token"
        );
    }
    if use_full_list {
        by_full_position
    } else {
        by_org_position
    }
}

/// `org:<feature>:<permission>` for every set bit of the mask at each feature's index.
fn grant<'a>(
    features: impl Iterator<Item = (usize, &'a str)>,
    masks: &[Option<Vec<bool>>],
    permissions: &[&str],
) -> Vec<String> {
    features
        .filter_map(|(index, feature)| Some((feature, masks.get(index)?.as_deref()?)))
        .flat_map(|(feature, bits)| {
            bits.iter()
                .zip(permissions)
                .filter(|(set, _)| **set)
                .map(move |(_, permission)| format!("org:{feature}:{permission}"))
        })
        .collect()
}

/// The first `limit` bits (least significant first) of a decimal mask, exactly, however long;
/// `None` unless it is all ASCII digits (no sign, no point, not empty).
fn mask_bits(decimal: &str, limit: usize) -> Option<Vec<bool>> {
    if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match decimal.parse::<u128>() {
        Ok(mask) => Some((0..limit.min(128)).map(|i| (mask >> i) & 1 == 1).collect()),
        Err(_) => Some(long_division_bits(decimal, limit)),
    }
}

/// The first `limit` bits of an all-digits decimal string, by repeated halving of the digits.
fn long_division_bits(decimal: &str, limit: usize) -> Vec<bool> {
    let mut digits: Vec<u8> = decimal
        .bytes()
        .map(|b| b - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    let mut bits = Vec::new();
    while !digits.is_empty() && bits.len() < limit {
        let mut remainder = 0;
        for digit in &mut digits {
            let value = remainder * 10 + *digit;
            *digit = value / 2;
            remainder = value % 2;
        }
        bits.push(remainder == 1);
        let leading_zeros = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading_zeros);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::long_division_bits;
    use crate::claims::test_claims as claims;
    use crate::claims::MalformedClaim;
    use serde_json::json;

    /// A v2 token whose active organization has these `per` and `fpm`, with this `fea`.
    fn v2_permissions(fea: &str, per: &str, fpm: &str) -> Vec<String> {
        claims(json!({
            "v": 2,
            "fea": fea,
            "o": { "id": "org_1", "rol": "admin", "per": per, "fpm": fpm },
        }))
        .org_permissions()
        .to_vec()
    }

    /// `permission_0,...,permission_{count-1}`.
    fn numbered_permissions(count: usize) -> String {
        (0..count)
            .map(|i| format!("permission_{i}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The permissions a single org feature gets from `mask` over `count` numbered permissions.
    fn single_feature_permissions(mask: &str, count: usize) -> Vec<String> {
        v2_permissions("o:feature", &numbered_permissions(count), mask)
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn sorted(mut values: Vec<String>) -> Vec<String> {
        values.sort();
        values
    }

    #[test]
    fn v2_permissions_decode_worked_example() {
        assert_eq!(
            v2_permissions(
                "o:repositories,uo:projects,u:gold",
                "read,create,update,delete,revoke",
                "7,21,0"
            ),
            strings(&[
                "org:repositories:read",
                "org:repositories:create",
                "org:repositories:update",
                "org:projects:read",
                "org:projects:update",
                "org:projects:revoke",
            ])
        );
    }

    #[test]
    fn v2_permissions_from_fea_per_and_fpm() {
        assert_eq!(
            sorted(v2_permissions(
                "o:impersonation,o:memberships",
                "read,manage",
                "1,3"
            )),
            sorted(strings(&[
                "org:impersonation:read",
                "org:memberships:read",
                "org:memberships:manage",
            ]))
        );
    }

    #[test]
    fn v2_permissions_case_1_user_feature_with_zero_mask() {
        assert_eq!(
            sorted(v2_permissions(
                "ou:memberships,u:impersonation",
                "read,manage",
                "3,0"
            )),
            sorted(strings(&["org:memberships:read", "org:memberships:manage"]))
        );
    }

    #[test]
    fn v2_permissions_case_2_many_features() {
        assert_eq!(
            sorted(v2_permissions(
                "o:billing,o:email,o:fraud,o:instance,o:staging_plans",
                "manage,read",
                "3,3,3,3,1"
            )),
            sorted(strings(&[
                "org:billing:manage",
                "org:billing:read",
                "org:email:manage",
                "org:email:read",
                "org:fraud:manage",
                "org:fraud:read",
                "org:instance:manage",
                "org:instance:read",
                "org:staging_plans:manage",
            ]))
        );
    }

    #[test]
    fn v2_permissions_case_3_sparse_masks() {
        assert_eq!(
            sorted(v2_permissions(
                "o:repositories,o:projects",
                "read,create,update,delete,revoke",
                "7,21"
            )),
            sorted(strings(&[
                "org:repositories:read",
                "org:repositories:create",
                "org:repositories:update",
                "org:projects:read",
                "org:projects:update",
                "org:projects:revoke",
            ]))
        );
    }

    #[test]
    fn v2_permissions_case_4_single_bits() {
        assert_eq!(
            sorted(v2_permissions(
                "o:repositories,o:projects,o:webhooks,o:impersonation",
                "read,manage",
                "1,2,3,0"
            )),
            sorted(strings(&[
                "org:repositories:read",
                "org:projects:manage",
                "org:webhooks:read",
                "org:webhooks:manage",
            ]))
        );
    }

    #[test]
    fn zero_masks_keep_alignment() {
        assert_eq!(
            sorted(v2_permissions(
                "o:impersonation,o:memberships,o:feature3",
                "read,manage",
                "1,3,0"
            )),
            sorted(strings(&[
                "org:impersonation:read",
                "org:memberships:read",
                "org:memberships:manage",
            ]))
        );
    }

    #[test]
    fn org_and_user_scoped_features_both_grant_org_permissions() {
        assert_eq!(
            sorted(v2_permissions(
                "uo:impersonation,o:memberships,uo:feature3",
                "read,manage",
                "1,3,1"
            )),
            sorted(strings(&[
                "org:impersonation:read",
                "org:memberships:read",
                "org:memberships:manage",
                "org:feature3:read",
            ]))
        );
    }

    #[test]
    fn missing_or_empty_fpm_or_per_gives_no_permissions() {
        let without = claims(json!({
            "v": 2,
            "fea": "u:impersonation,u:memberships,u:feature3",
            "o": { "id": "org_id", "rol": "admin", "slg": "org_slug" },
        }));
        assert_eq!(without.org_permissions(), &[] as &[String]);
        assert_eq!(without.org_id(), Some("org_id"));
        assert!(v2_permissions("o:a", "", "1").is_empty());
        assert!(v2_permissions("o:a", "read", "").is_empty());
        let per_only =
            claims(json!({ "v": 2, "fea": "o:a", "o": { "id": "org_1", "per": "read" } }));
        assert!(per_only.org_permissions().is_empty());
        let fpm_only = claims(json!({ "v": 2, "fea": "o:a", "o": { "id": "org_1", "fpm": "1" } }));
        assert!(fpm_only.org_permissions().is_empty());
    }

    #[test]
    fn masks_above_2_pow_53_are_preserved() {
        // 2^53 + 1 and 2^53 + 3: a double would round both to 2^53.
        assert_eq!(
            single_feature_permissions("9007199254740993", 54),
            strings(&["org:feature:permission_0", "org:feature:permission_53"])
        );
        assert_eq!(
            single_feature_permissions("9007199254740995", 54),
            strings(&[
                "org:feature:permission_0",
                "org:feature:permission_1",
                "org:feature:permission_53",
            ])
        );
        // 2^54 with 55 permissions grants the 55th.
        assert_eq!(
            single_feature_permissions("18014398509481984", 55),
            strings(&["org:feature:permission_54"])
        );
    }

    #[test]
    fn mask_bits_beyond_permission_count_are_ignored() {
        // 2^54 with 54 permissions: the only set bit has no permission (Go would drop the
        // feature; Clerk's JS drops only the extra bits).
        assert!(single_feature_permissions("18014398509481984", 54).is_empty());
        // 7 = 0b111 with two permissions keeps the two it can name.
        assert_eq!(
            single_feature_permissions("7", 2),
            strings(&["org:feature:permission_0", "org:feature:permission_1"])
        );
    }

    #[test]
    fn masks_up_to_2_pow_128_and_beyond_decode_exactly() {
        // u128::MAX: all 128 permissions.
        let all = single_feature_permissions("340282366920938463463374607431768211455", 128);
        assert_eq!(all.len(), 128);
        assert_eq!(all[127], "org:feature:permission_127");
        // 2^127 + 1.
        assert_eq!(
            single_feature_permissions("170141183460469231731687303715884105729", 128),
            strings(&["org:feature:permission_0", "org:feature:permission_127"])
        );
        // 2^128 + 2, past u128: decoded by long division.
        assert_eq!(
            single_feature_permissions("340282366920938463463374607431768211458", 129),
            strings(&["org:feature:permission_1", "org:feature:permission_128"])
        );
        // 2^200.
        assert_eq!(
            single_feature_permissions(
                "1606938044258990275541962092341162602522202993782792835301376",
                201
            ),
            strings(&["org:feature:permission_200"])
        );
    }

    #[test]
    fn long_division_agrees_with_u128() {
        for mask in [
            0_u128,
            1,
            2,
            3,
            21,
            1 << 53,
            (1 << 53) + 1,
            u128::MAX - 1,
            u128::MAX,
        ] {
            let expected: Vec<bool> = (0..128).map(|i| (mask >> i) & 1 == 1).collect();
            let mut bits = long_division_bits(&mask.to_string(), 128);
            bits.resize(128, false);
            assert_eq!(bits, expected, "mask {mask}");
        }
        assert_eq!(long_division_bits("0006", 8), [false, true, true]);
        assert_eq!(long_division_bits("0", 8), [] as [bool; 0]);
        assert_eq!(long_division_bits("255", 3), [true, true, true]);
    }

    #[test]
    fn masks_stay_aligned_after_a_feature_without_permissions() {
        assert_eq!(
            v2_permissions(
                "o:repositories,o:impersonation,o:billing",
                "manage,read,update",
                "6,0,3"
            ),
            strings(&[
                "org:repositories:read",
                "org:repositories:update",
                "org:billing:manage",
                "org:billing:read",
            ])
        );
    }

    #[test]
    fn safe_masks_1_3_7_21_decode_to_their_bits() {
        for (mask, indexes) in [
            ("1", &[0][..]),
            ("3", &[0, 1]),
            ("7", &[0, 1, 2]),
            ("21", &[0, 2, 4]),
        ] {
            let expected: Vec<String> = indexes
                .iter()
                .map(|i| format!("org:feature:permission_{i}"))
                .collect();
            assert_eq!(
                single_feature_permissions(mask, 54),
                expected,
                "mask {mask}"
            );
        }
    }

    #[test]
    fn masks_with_leading_zeros_and_spaces_are_decimal() {
        assert_eq!(
            single_feature_permissions(" 007 ", 54),
            strings(&[
                "org:feature:permission_0",
                "org:feature:permission_1",
                "org:feature:permission_2",
            ])
        );
    }

    #[test]
    fn malformed_masks_fail_closed() {
        // The last one is an Arabic-Indic digit one: only ASCII digits count.
        for mask in ["1invalid", "-1", "1.5", "+1", "0x1", "1e3", "\u{661}"] {
            assert!(
                single_feature_permissions(mask, 54).is_empty(),
                "mask {mask:?}"
            );
        }
    }

    #[test]
    fn a_malformed_mask_grants_nothing_to_its_feature_only() {
        assert_eq!(
            v2_permissions("o:a,o:b,o:c", "read,manage", "1,bad,3"),
            strings(&["org:a:read", "org:c:read", "org:c:manage"])
        );
        assert_eq!(
            v2_permissions("o:a,o:b", "read", "1,"),
            strings(&["org:a:read"])
        );
    }

    #[test]
    fn fpm_lines_up_with_all_fea_entries_when_the_counts_match() {
        // Clerk's JS would give nothing here; its Go and Python SDKs give these, and so does
        // the safe rule, since there is one mask per fea entry.
        assert_eq!(
            v2_permissions("u:x,o:y", "read,manage", "0,3"),
            strings(&["org:y:read", "org:y:manage"])
        );
    }

    #[test]
    fn fpm_lines_up_with_org_features_when_the_counts_differ() {
        assert_eq!(
            v2_permissions("u:x,o:y", "read,manage", "3"),
            strings(&["org:y:read", "org:y:manage"])
        );
        // The authObjects.test.ts billing fixture: four fea entries, two masks.
        assert_eq!(
            v2_permissions(
                "o:reservations,u:dashboard,uo:support-chat,o:impersonation",
                "read,manage",
                "2,3"
            ),
            strings(&[
                "org:reservations:manage",
                "org:support-chat:read",
                "org:support-chat:manage",
            ])
        );
    }

    #[test]
    fn unknown_fea_scopes_count_as_entries_but_grant_nothing() {
        assert_eq!(
            v2_permissions("x:a,o:b", "read", "1,1"),
            strings(&["org:b:read"])
        );
    }

    #[test]
    fn fea_entry_without_colon_gives_no_org_permissions() {
        let claims = claims(json!({
            "v": 2,
            "fea": "o:a,broken",
            "o": { "id": "org_1", "rol": "admin", "per": "read", "fpm": "1,1" },
        }));
        assert!(claims.org_permissions().is_empty());
        assert!(claims.features().is_empty());
        assert_eq!(claims.feature_entitlements(), Err(MalformedClaim));
        assert_eq!(claims.org_id(), Some("org_1"));
        assert_eq!(claims.org_role(), Some("org:admin"));
    }
}
