// Names Baton checks in runbooks and trusts in commands.
#pragma once
#include <string_view>

namespace baton {

// Is `name` a valid shell variable name ([A-Za-z_][A-Za-z0-9_]*)?
bool valid_var_name(std::string_view name);

}  // namespace baton
