# Lean device set for the Calgary build of qemu-system-x86_64
# (configure --without-default-devices --with-devices-x86_64=calgary).
CONFIG_I440FX=y
CONFIG_Q35=y
CONFIG_VTD=y
CONFIG_E1000_PCI=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_BLK=y
CONFIG_NVME_PCI=y
CONFIG_EDU=y
CONFIG_VGA_PCI=y
CONFIG_ISA_DEBUG=y
CONFIG_SPDM_SOCKET=y   # hw/nvme needs it; its Kconfig default is off without default devices
CONFIG_PCI_BRIDGE=y   # pci-bridge behind a PHB (hw-tests)
