// CRC-32C (Castagnoli), and the masking TensorFlow applies to it in TFRecord files and
// checkpoint bundles: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
#pragma once

#include <cstddef>
#include <cstdint>

namespace srnn {

std::uint32_t crc32c(const std::uint8_t* data, std::size_t n);
// Continues a CRC over more bytes: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, const std::uint8_t* data, std::size_t n);
std::uint32_t masked_crc32c(const std::uint8_t* data, std::size_t n);
std::uint32_t mask_crc32c(std::uint32_t crc);

}  // namespace srnn
