// OCI mount options ("ro", "nosuid", "rbind", "rslave", "mode=755", ...) into a ContainerMount:
// flags mount(2) knows become flags, the recursive ones ("rro", "rnosuid", ...) mount_setattr
// attributes, "tmpcopyup" and "idmap"/"ridmap" marks on the mount, the rest the filesystem's
// data, as runc treats them. "remount" is an error that names the mount and the option.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "linux/rootfs.hpp"

namespace berth::oci {

Result<void> apply_mount_options(const std::vector<std::string>& options, const std::string& where,
                                 linux::ContainerMount& out);

// rootfsPropagation and the propagation options: "rslave" -> MS_SLAVE | MS_REC.
std::optional<unsigned long> propagation_flags(const std::string& name);

}  // namespace berth::oci
