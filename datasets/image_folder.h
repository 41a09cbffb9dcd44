// Image classification folders as torchvision's ImageFolder lays them out: one subfolder per
// class, named by the class, holding its images (.png, .jpg, .jpeg, any case):
//   path/cat/001.png   path/cat/001.mask.png   path/dog/x.jpg ...
// A file <stem>.mask.png beside an image is that image's ground-truth mask (gray, its image's
// size) and not a sample. Samples are sorted by class folder, then file name; ids
// "<class>/<file stem>". Images are decoded when a sample is read: a bad file fails that sample
// alone, naming it. (For an index with other layouts, use a JSONL dataset whose lines hold
// {"image", "label", "mask"?}.)
#pragma once

#include <memory>

#include "datasets/dataset.h"

namespace xai {

std::unique_ptr<Dataset> open_image_folder(const DatasetOptions& options);

// The decoded image at `path` for sample `what` (a JSONL line, a folder entry): read_image with
// the sample named in the error.
std::shared_ptr<const Image> read_sample_image(const std::string& path, const std::string& what);

}  // namespace xai
