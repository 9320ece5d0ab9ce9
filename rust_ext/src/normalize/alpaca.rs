//! Alpaca market data v2 (placeholder: being written).

use super::{Ctx, Normalizer};
use crate::instruments::PrecisionPolicy;

#[derive(Default)]
pub struct Alpaca;

impl Normalizer for Alpaca {
    fn venue(&self) -> &'static str {
        "alpaca"
    }

    fn precision_policy(&self) -> PrecisionPolicy {
        PrecisionPolicy::Default { price: 6, size: 9 }
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) {
        ctx.reject("alpaca: not implemented yet", data);
    }
}
