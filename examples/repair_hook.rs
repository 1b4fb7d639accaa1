//! A reprocessor that repairs dead letters before replaying them: here,
//! orders written with a `qty` field by an old producer get the `quantity`
//! field the fixed consumer expects. A letter the hook refuses is parked.

use std::sync::Arc;

use msk_dlq::replay::{Repair, RepairError, StoredDeadLetter};

struct RenameQty;

impl Repair for RenameQty {
    fn repair(
        &self,
        letter: &StoredDeadLetter,
        value: &mut Option<Vec<u8>>,
    ) -> Result<(), RepairError> {
        let Some(bytes) = value.as_mut() else {
            return Ok(()); // a tombstone replays as it is
        };
        let mut order: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            RepairError::because(format!("offset {:?} is not JSON", letter.offset), e)
        })?;
        if let Some(obj) = order.as_object_mut() {
            if let Some(qty) = obj.remove("qty") {
                obj.insert("quantity".into(), qty);
            }
        }
        *bytes =
            serde_json::to_vec(&order).map_err(|e| RepairError::because("cannot re-encode", e))?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::run_reprocessor(Some(Arc::new(RenameQty))).await
}
