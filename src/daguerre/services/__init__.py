"""One public function per API operation: authorize → load → stream → store → record → commit."""
