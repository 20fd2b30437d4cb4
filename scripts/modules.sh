# The modules a user can depend on, in dependency order, as folders of the
# repository; sourced by release.sh and release-check.sh. Each is tagged
# FOLDER/vX.Y.Z. The test module (internal/), bench/ and tools/ are not
# released.
release_modules=(qb em em/pgxdriver mongo migrate examples)
