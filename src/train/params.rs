//! A flow's parameters as an optimizer sees them: their ids (Adam's saved state is keyed by
//! them), their shapes and values, and setting them so a model rebuilt from a file matches a
//! saved state.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

use super::TrainError;
use crate::flows::Flow;

/// The ids of `flow`'s parameters in visiting order (an optimizer record is keyed by them).
pub fn param_ids(flow: &Flow) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl burn::module::ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    flow.visit(&mut ids);
    ids.0
}

/// The ids and shapes of `flow`'s parameters in visiting order.
pub fn param_shapes(flow: &Flow) -> Vec<(u64, Vec<usize>)> {
    struct Shapes(Vec<(u64, Vec<usize>)>);
    impl burn::module::ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((param.id.val(), param.val().dims().to_vec()));
        }
    }
    let mut shapes = Shapes(Vec::new());
    flow.visit(&mut shapes);
    shapes.0
}

/// Every parameter's values in visiting order, read back synchronously (a CPU flow; tests
/// compare trained models with these).
pub fn param_values(flow: &Flow) -> Result<Vec<f32>, crate::readback::ReadbackError> {
    struct Values(Result<Vec<f32>, crate::readback::ReadbackError>);
    impl burn::module::ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Ok(all) = &mut self.0 {
                match crate::readback::to_host::<f32, D>(param.val()) {
                    Ok(v) => all.extend(v),
                    Err(e) => self.0 = Err(e),
                }
            }
        }
    }
    let mut values = Values(Ok(Vec::new()));
    flow.visit(&mut values);
    values.0
}

/// `flow` with its parameters' ids set, in visiting order, to `ids` (so a saved optimizer record
/// matches a model rebuilt from a file). Fails when the counts differ.
pub fn with_param_ids(flow: Flow, ids: &[u64]) -> Result<Flow, TrainError> {
    let have = param_ids(&flow).len();
    if have != ids.len() {
        return Err(TrainError::Setup(format!(
            "the model has {have} parameters, the saved optimizer state {}",
            ids.len()
        )));
    }
    struct SetIds<'a>(std::slice::Iter<'a, u64>);
    impl ModuleMapper for SetIds<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.id = burn::module::ParamId::from(*self.0.next().expect("counted"));
            param
        }
    }
    Ok(flow.map(&mut SetIds(ids.iter())))
}
