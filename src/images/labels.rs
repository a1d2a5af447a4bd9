//! Class labels as the context of a class-conditional flow: one-hot rows `[n, K]`.

use burn::tensor::{Device, Tensor, TensorData};

use super::ImageSet;

/// One-hot rows `[labels.len(), k]` (a label `≥ k` gives an all-zero row).
pub fn one_hot(labels: &[u8], k: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0.0f32; labels.len() * k];
    for (i, &y) in labels.iter().enumerate() {
        if (y as usize) < k {
            v[i * k + y as usize] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), k]), device)
}

/// The one-hot labels of images `indices` of `set`.
pub fn one_hot_of(set: &ImageSet, indices: &[usize], k: usize, device: &Device) -> Tensor<2> {
    let labels: Vec<u8> = indices.iter().map(|&i| set.labels[i]).collect();
    one_hot(&labels, k, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows_and_out_of_range_labels() {
        let device = crate::device::cpu();
        let t = one_hot(&[2, 0, 7], 3, &device);
        let v: Vec<f32> = t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v, vec![0., 0., 1., 1., 0., 0., 0., 0., 0.]);
    }
}
