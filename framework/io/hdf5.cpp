#include "framework/io/hdf5.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "framework/common/error.h"

namespace xai::h5 {
namespace {

// HDF5 prints its error stack to stderr by default; we report our own one-line messages. It
// would also close every open file at exit, flushing its cached metadata: for a file abandoned
// after a failed write that is what damages it (or crashes the exit on a full disk), so it is told
// not to; xai closes its files itself.
void silence_hdf5() {
  static const bool once = [] {
    H5dont_atexit();
    return true;
  }();
  (void)once;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* descs = static_cast<std::vector<std::string>*>(data);
  if (err->desc != nullptr && err->desc[0] != '\0') descs->emplace_back(err->desc);
  return 0;
}

Id make_plist(hid_t cls, const std::string& what) {
  hid_t id = H5Pcreate(cls);
  if (id < 0)
    throw Error(str_cat("HDF5: cannot create a property list for ", what, ": ", take_hdf5_error()));
  return Id(id, H5Pclose);
}

// Link and attribute names come from users (model, explainer, metric names): check them here so
// the error names the bad value rather than an HDF5 internal.
void check_link_name(const std::string& name, const std::string& where) {
  XAI_CHECK(!name.empty() && name != "." && name.find('/') == std::string::npos,
            "HDF5: invalid object name '", name, "' under '", where,
            "': names must be non-empty, not '.', and contain no '/'");
}

Id string_type(size_t size) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.valid() || H5Tset_size(type.get(), std::max<size_t>(1, size)) < 0 ||
      H5Tset_strpad(type.get(), H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0) {
    throw Error(str_cat("HDF5: cannot make a string type: ", take_hdf5_error()));
  }
  return type;
}

}  // namespace

std::string take_hdf5_error() {
  std::vector<std::string> descs;  // outermost (API) first
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "no detail from HDF5";
  std::string out = descs.front();
  if (descs.back() != descs.front()) out += ": " + descs.back();
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

// ---- Id
// -------------------------------------------------------------------------------------------

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Id::reset() {
  if (id_ >= 0 && closer_ != nullptr) {
    if (closer_(id_) < 0) H5Eclear2(H5E_DEFAULT);
  }
  id_ = H5I_INVALID_HID;
}

hid_t Id::release() {
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  return id;
}

// ---- Object
// ---------------------------------------------------------------------------------------

void fail_at(const std::string& file, const std::string& path, const std::string& what) {
  throw Error(str_cat("HDF5: ", what, " '", path, "' in ", file, ": ", take_hdf5_error()));
}

void Object::fail(const std::string& what) const { fail_at(file_, path_, what); }

std::string Object::child_path(const std::string& name) const {
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

bool Object::has_attr(const std::string& name) const {
  htri_t r = H5Aexists(id(), name.c_str());
  if (r < 0) fail(str_cat("cannot look up attribute '", name, "' of"));
  return r > 0;
}

std::vector<std::string> Object::attr_names() const {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Aiterate2(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names) < 0) {
    fail("cannot list the attributes of");
  }
  return names;
}

bool Object::attr_is_string(const std::string& name) const {
  Id attr(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail(str_cat("cannot open attribute '", name, "' of"));
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.valid()) fail(str_cat("cannot read the type of attribute '", name, "' of"));
  return H5Tget_class(type.get()) == H5T_STRING;
}

void Object::set_attr(const std::string& name, const std::string& value) {
  if (has_attr(name)) delete_attr(name);
  Id type = string_type(value.size());
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(H5Acreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  if (!attr.valid()) fail(str_cat("cannot create attribute '", name, "' on"));
  std::string buf = value;
  if (buf.empty()) buf.push_back('\0');
  if (H5Awrite(attr.get(), type.get(), buf.data()) < 0) {
    fail(str_cat("cannot write attribute '", name, "' on"));
  }
}

void Object::set_attr(const std::string& name, int64_t value) {
  if (has_attr(name)) delete_attr(name);
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(H5Acreate2(id(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  if (!attr.valid()) fail(str_cat("cannot create attribute '", name, "' on"));
  if (H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail(str_cat("cannot write attribute '", name, "' on"));
  }
}

std::string Object::string_attr(const std::string& name) const {
  Id attr(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail(str_cat("cannot open attribute '", name, "' of"));
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.valid()) fail(str_cat("cannot read the type of attribute '", name, "' of"));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0) {
    throw Error(str_cat("HDF5: attribute '", name, "' of '", path_, "' in ", file_,
                        " is not a fixed-length string"));
  }
  Id space(H5Aget_space(attr.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw Error(
        str_cat("HDF5: attribute '", name, "' of '", path_, "' in ", file_, " is not a scalar"));
  }
  std::string buf(H5Tget_size(type.get()), '\0');
  if (H5Aread(attr.get(), type.get(), buf.data()) < 0) {
    fail(str_cat("cannot read attribute '", name, "' of"));
  }
  while (!buf.empty() && buf.back() == '\0') buf.pop_back();
  return buf;
}

int64_t Object::int_attr(const std::string& name) const {
  Id attr(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail(str_cat("cannot open attribute '", name, "' of"));
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_INTEGER) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(
        str_cat("HDF5: attribute '", name, "' of '", path_, "' in ", file_, " is not an integer"));
  }
  int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail(str_cat("cannot read attribute '", name, "' of"));
  }
  return value;
}

void Object::delete_attr(const std::string& name) {
  if (H5Adelete(id(), name.c_str()) < 0) fail(str_cat("cannot delete attribute '", name, "' of"));
}

// ---- Dataset
// --------------------------------------------------------------------------------------

Dataset::Dataset(Id id, std::string file, std::string path)
    : Object(std::move(id), std::move(file), std::move(path)) {}

std::vector<hsize_t> Dataset::dims() const {
  Id space(H5Dget_space(id()), H5Sclose);
  if (!space.valid()) fail("cannot read the shape of");
  int nd = H5Sget_simple_extent_ndims(space.get());
  if (nd < 1) fail("expected an array, got a scalar or empty dataspace for");
  std::vector<hsize_t> d(static_cast<size_t>(nd));
  H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  return d;
}

int64_t Dataset::rows() const { return static_cast<int64_t>(dims()[0]); }

int64_t Dataset::row_width() const {
  std::vector<hsize_t> d = dims();
  int64_t w = 1;
  for (size_t i = 1; i < d.size(); ++i) w *= static_cast<int64_t>(d[i]);
  return w;
}

std::vector<H5Z_filter_t> Dataset::filters() const {
  Id dcpl(H5Dget_create_plist(id()), H5Pclose);
  if (!dcpl.valid()) fail("cannot read the creation properties of");
  std::vector<H5Z_filter_t> out;
  int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    out.push_back(H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelmts, nullptr, 0,
                                 nullptr, &config));
  }
  return out;
}

void Dataset::append_raw(hid_t mem_type, const void* data, int64_t rows) {
  if (rows <= 0) return;
  std::vector<hsize_t> d = dims();
  const hsize_t old_rows = d[0];
  d[0] += static_cast<hsize_t>(rows);
  if (H5Dset_extent(id(), d.data()) < 0) fail("cannot extend");
  Id fspace(H5Dget_space(id()), H5Sclose);
  std::vector<hsize_t> start(d.size(), 0), count = d;
  start[0] = old_rows;
  count[0] = static_cast<hsize_t>(rows);
  if (!fspace.valid() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                             count.data(), nullptr) < 0) {
    fail("cannot select rows to append in");
  }
  Id mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  if (H5Dwrite(id(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0) {
    fail(str_cat("cannot append ", rows, " rows to"));
  }
}

void Dataset::truncate_rows(int64_t rows) {
  std::vector<hsize_t> d = dims();
  XAI_CHECK(rows >= 0 && static_cast<hsize_t>(rows) <= d[0], "HDF5: cannot cut '", path_, "' in ",
            file_, " to ", rows, " rows: it has ", d[0]);
  if (static_cast<hsize_t>(rows) == d[0]) return;
  d[0] = static_cast<hsize_t>(rows);
  if (H5Dset_extent(id(), d.data()) < 0) fail(str_cat("cannot cut to ", rows, " rows"));
}

void Dataset::read_raw(hid_t mem_type, int64_t first, int64_t count, void* out) const {
  std::vector<hsize_t> d = dims();
  if (first < 0 || count < 0 || static_cast<hsize_t>(first + count) > d[0]) {
    throw Error(str_cat("HDF5: rows [", first, ", ", first + count, ") are outside '", path_, "' (",
                        d[0], " rows) in ", file_));
  }
  if (count == 0) return;
  Id fspace(H5Dget_space(id()), H5Sclose);
  std::vector<hsize_t> start(d.size(), 0), cnt = d;
  start[0] = static_cast<hsize_t>(first);
  cnt[0] = static_cast<hsize_t>(count);
  if (!fspace.valid() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                             cnt.data(), nullptr) < 0) {
    fail("cannot select rows to read in");
  }
  Id mspace(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr), H5Sclose);
  if (H5Dread(id(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, out) < 0) {
    fail(str_cat("cannot read rows [", first, ", ", first + count, ") of"));
  }
}

// ---- Group
// ----------------------------------------------------------------------------------------

bool Group::has(const std::string& rel) const {
  size_t pos = 0;
  while (true) {
    size_t slash = rel.find('/', pos);
    std::string prefix = rel.substr(0, slash);
    htri_t r = H5Lexists(id(), prefix.c_str(), H5P_DEFAULT);
    if (r <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (slash == std::string::npos) return true;
    pos = slash + 1;
  }
}

bool Group::is_group(const std::string& rel) const {
  if (!has(rel)) return false;
  Id obj(H5Oopen(id(), rel.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) fail(str_cat("cannot open '", rel, "' under"));
  return H5Iget_type(obj.get()) == H5I_GROUP;
}

std::vector<std::string> Group::children() const {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Literate(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names) < 0) {
    fail("cannot list the members of");
  }
  return names;
}

Group Group::open_group(const std::string& rel) const {
  Id g(H5Gopen2(id(), rel.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) {
    fail_at(file_, child_path(rel), "cannot open group");
  }
  return Group(std::move(g), file_, child_path(rel));
}

void Group::copy_from(const Group& src, const std::string& name) {
  check_link_name(name, path_);
  if (H5Ocopy(src.id(), name.c_str(), id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0) {
    fail_at(src.file_path(), src.child_path(name), str_cat("cannot copy to ", file_, ":"));
  }
}

Group Group::create_group(const std::string& name) {
  check_link_name(name, path_);
  Id gcpl = make_plist(H5P_GROUP_CREATE, child_path(name));
  H5Pset_obj_track_times(gcpl.get(), 0);
  Id g(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) fail_at(file_, child_path(name), "cannot create group");
  return Group(std::move(g), file_, child_path(name));
}

Group Group::require_group(const std::string& name) {
  return has(name) ? open_group(name) : create_group(name);
}

Dataset Group::open_dataset(const std::string& rel) const {
  Id d(H5Dopen2(id(), rel.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) fail_at(file_, child_path(rel), "cannot open dataset");
  return Dataset(std::move(d), file_, child_path(rel));
}

Dataset Group::create_raw(const std::string& name, hid_t file_type, const ChunkSpec& spec) {
  check_link_name(name, path_);
  const std::string path = child_path(name);
  XAI_CHECK(spec.row_width >= 1 && spec.chunk_rows >= 1, "HDF5: bad chunk spec for '", path,
            "' in ", file_);
  const int rank = spec.row_width > 1 ? 2 : 1;
  hsize_t dims[2] = {0, static_cast<hsize_t>(spec.row_width)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(spec.row_width)};
  hsize_t chunk[2] = {static_cast<hsize_t>(spec.chunk_rows), static_cast<hsize_t>(spec.row_width)};
  Id space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
  Id dcpl = make_plist(H5P_DATASET_CREATE, path);
  bool ok = H5Pset_chunk(dcpl.get(), rank, chunk) >= 0 &&
            H5Pset_obj_track_times(dcpl.get(), 0) >= 0 &&
            (!spec.shuffle || H5Pset_shuffle(dcpl.get()) >= 0) &&
            (spec.deflate_level <= 0 ||
             H5Pset_deflate(dcpl.get(), static_cast<unsigned>(spec.deflate_level)) >= 0);
  if (!ok || !space.valid()) fail_at(file_, path, "cannot set up dataset");
  Id d(H5Dcreate2(id(), name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
       H5Dclose);
  if (!d.valid()) fail_at(file_, path, "cannot create dataset");
  return Dataset(std::move(d), file_, path);
}

// ---- File
// -----------------------------------------------------------------------------------------

namespace {

Id file_access_plist(const std::string& path) {
  Id fapl = make_plist(H5P_FILE_ACCESS, path);
  // The 1.8 object format: dense attribute storage (attributes over 64 KiB, e.g. a long config)
  // without the 1.10 superblock, whose "open for writing" flag would make a shard left behind by
  // a crashed process unopenable until h5clear is run.
  if (H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      // Lock where the file system supports it; carry on where it does not (some NFS/Lustre).
      H5Pset_file_locking(fapl.get(), 1, 1) < 0) {
    throw Error(
        str_cat("HDF5: cannot set file access properties for ", path, ": ", take_hdf5_error()));
  }
  return fapl;
}

}  // namespace

File File::create(const std::string& path) {
  silence_hdf5();
  Id fapl = file_access_plist(path);
  Id fcpl = make_plist(H5P_FILE_CREATE, path);
  H5Pset_obj_track_times(fcpl.get(), 0);
  Id f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
  if (!f.valid()) {
    throw Error(str_cat("HDF5: cannot create file ", path, ": ", take_hdf5_error()));
  }
  return File(std::move(f), path);
}

File File::open(const std::string& path, Access access) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(str_cat("HDF5: cannot open file ", path, ": it does not exist or is not a file"));
  }
  Id fapl = file_access_plist(path);
  const unsigned flags = access == Access::kReadWrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  Id f(H5Fopen(path.c_str(), flags, fapl.get()), H5Fclose);
  if (!f.valid()) {
    const std::string reason = take_hdf5_error();
    if (reason.find("unable to lock file") != std::string::npos) {
      throw FileLockedError(str_cat("HDF5: cannot open file ", path,
                                    ": another process has it open for writing (", reason, ")"));
    }
    throw Error(str_cat("HDF5: cannot open file ", path, ": ", reason));
  }
  return File(std::move(f), path);
}

Group File::root() const {
  Id g(H5Gopen2(id_.get(), "/", H5P_DEFAULT), H5Gclose);
  if (!g.valid()) {
    throw Error(str_cat("HDF5: cannot open the root group of ", path_, ": ", take_hdf5_error()));
  }
  return Group(std::move(g), path_, "/");
}

void File::flush_to_disk() {
  if (H5Fflush(id_.get(), H5F_SCOPE_GLOBAL) < 0) {
    throw Error(str_cat("HDF5: cannot flush ", path_, ": ", take_hdf5_error()));
  }
  Id fapl(H5Fget_access_plist(id_.get()), H5Pclose);
  void* handle = nullptr;
  if (!fapl.valid() || H5Fget_vfd_handle(id_.get(), fapl.get(), &handle) < 0 || handle == nullptr) {
    throw Error(
        str_cat("HDF5: cannot get the file descriptor of ", path_, ": ", take_hdf5_error()));
  }
  // The default (sec2) driver's handle is a pointer to the POSIX file descriptor.
  if (::fsync(*static_cast<int*>(handle)) != 0) {
    throw Error(str_cat("cannot fsync ", path_, ": ", std::strerror(errno)));
  }
}

void File::abandon() { id_.release(); }

void File::close() {
  if (!id_.valid()) return;
  // Release ownership first so a failed close is not retried by the destructor.
  herr_t r = H5Fclose(id_.release());
  if (r < 0) throw Error(str_cat("HDF5: cannot close ", path_, ": ", take_hdf5_error()));
}

}  // namespace xai::h5
