//! Tensors back to the host: the one place that turns device data into `Vec`s and names a
//! failure the same way everywhere.
//!
//! [`to_host`] blocks until the device is done, which is what native code and the CPU backend
//! want; the page's WebGPU device cannot block the browser's thread, so everything the page
//! reads goes through [`to_host_async`] (and [`scalar_async`]), which also work natively.

use burn::tensor::{Element, Tensor};

/// A device read that failed (a lost GPU, a buffer that could not be mapped, a dtype that does
/// not convert).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("reading a tensor back from the device failed: {0}")]
pub struct ReadbackError(pub String);

impl From<ReadbackError> for String {
    fn from(e: ReadbackError) -> Self {
        e.to_string()
    }
}

static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many scalars the trainers have read back ([`scalar`]) since the process started: a
/// GPU step's synchronisations, counted by `flowplay bench image-step`.
pub fn reads() -> u64 {
    READS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A one-value tensor's value on the host (synchronous; counted by [`reads`]).
pub fn scalar(t: Tensor<1>) -> f64 {
    READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    t.into_scalar::<f32>() as f64
}

/// The values of `t` in row-major order, as `E` (synchronous).
pub fn to_host<E: Element, const D: usize>(t: Tensor<D>) -> Result<Vec<E>, ReadbackError> {
    t.into_data()
        .convert::<E>()
        .try_to_vec::<E>()
        .map_err(|e| ReadbackError(format!("{e:?}")))
}

/// The values of `t` in row-major order, as `E`, without blocking the thread.
pub async fn to_host_async<E: Element, const D: usize>(
    t: Tensor<D>,
) -> Result<Vec<E>, ReadbackError> {
    t.into_data_async()
        .await
        .map_err(|e| ReadbackError(format!("{e:?}")))?
        .convert::<E>()
        .try_to_vec::<E>()
        .map_err(|e| ReadbackError(format!("{e:?}")))
}

/// The single value of a one-element tensor, without blocking the thread.
pub async fn scalar_async<const D: usize>(t: Tensor<D>) -> Result<f32, ReadbackError> {
    t.into_scalar_async::<f32>()
        .await
        .map_err(|e| ReadbackError(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn both_readbacks_give_the_values_in_row_major_order() {
        let device = crate::device::cpu();
        let t = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
            &device,
        );
        assert_eq!(
            to_host::<f64, 2>(t.clone()).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        let back: Vec<f32> = pollster::block_on(to_host_async(t.clone().transpose())).unwrap();
        assert_eq!(back, vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(pollster::block_on(scalar_async(t.sum())).unwrap(), 10.0);
    }
}
