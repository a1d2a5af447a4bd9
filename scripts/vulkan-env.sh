# Sourced by the GPU scripts (scripts/gpu-train.sh, benches/gpu-step.sh): makes sure the Vulkan
# loader is there (Debian's libvulkan1 from the system, else unpacked from .deb files carried
# in ./.gl), points the loader at NVIDIA's ICD where the driver put it outside the default
# path, and gives wgpu a runtime directory.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  if compgen -G '.gl/*.deb' >/dev/null; then
    echo "no Vulkan loader installed: unpacking .gl/*.deb" >&2
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    echo "no Vulkan loader (libvulkan.so.1): install Debian's libvulkan1, or put its .deb in .gl/" >&2
    exit 1
  fi
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
    /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd
      echo "Vulkan ICD: $icd" >&2
      break
    fi
  done
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
