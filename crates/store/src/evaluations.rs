//! Works with Alexa evaluations of this rask, kept for the owner's console: the counts, and
//! the whole evaluation as the simulator made it (JSON). The newest [`KEPT_EVALUATIONS`] stay.

use sqlx::Row;

use crate::db::{Store, StoreError, now_ms};

/// How many evaluations are kept.
pub const KEPT_EVALUATIONS: i64 = 20;
/// The largest report kept; an evaluation of hundreds of devices is cut to its counts.
pub const MAX_REPORT_BYTES: usize = 512 * 1024;

/// One kept evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEvaluation {
    /// When it was kept (Unix ms).
    pub at: i64,
    /// Rows passed.
    pub passed: i64,
    /// Rows failed.
    pub failed: i64,
    /// Rows that do not apply.
    pub not_applicable: i64,
    /// Rows this run could not check.
    pub not_checked: i64,
    /// The evaluation, JSON (`{}` when it was too large to keep).
    pub report: String,
}

impl Store {
    /// Keeps an evaluation: counts (passed, failed, not applicable, not checked) and its JSON.
    pub async fn keep_evaluation(&self, counts: [i64; 4], report: &str) -> Result<(), StoreError> {
        let report = if report.len() > MAX_REPORT_BYTES {
            "{}"
        } else {
            report
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO evaluations (at, passed, failed, not_applicable, not_checked, report) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(counts[0])
        .bind(counts[1])
        .bind(counts[2])
        .bind(counts[3])
        .bind(report)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM evaluations WHERE id NOT IN \
             (SELECT id FROM evaluations ORDER BY id DESC LIMIT $1)",
        )
        .bind(KEPT_EVALUATIONS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest kept evaluation.
    pub async fn last_evaluation(&self) -> Result<Option<KeptEvaluation>, StoreError> {
        let row = sqlx::query(
            "SELECT at, passed, failed, not_applicable, not_checked, report FROM evaluations \
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(KeptEvaluation {
                at: r.try_get("at")?,
                passed: r.try_get("passed")?,
                failed: r.try_get("failed")?,
                not_applicable: r.try_get("not_applicable")?,
                not_checked: r.try_get("not_checked")?,
                report: r.try_get("report")?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[tokio::test]
    async fn the_newest_evaluations_are_kept_on_both_databases() {
        for store in testing::both().await {
            assert_eq!(store.last_evaluation().await.unwrap(), None);
            for n in 0..super::KEPT_EVALUATIONS + 2 {
                store
                    .keep_evaluation([n, 1, 2, 3], &format!("{{\"n\": {n}}}"))
                    .await
                    .unwrap();
            }
            let last = store.last_evaluation().await.unwrap().unwrap();
            assert_eq!(last.passed, super::KEPT_EVALUATIONS + 1);
            assert_eq!(last.report, format!("{{\"n\": {}}}", super::KEPT_EVALUATIONS + 1));
            store
                .keep_evaluation([0, 0, 0, 0], &"x".repeat(super::MAX_REPORT_BYTES + 1))
                .await
                .unwrap();
            assert_eq!(store.last_evaluation().await.unwrap().unwrap().report, "{}");
        }
    }
}
