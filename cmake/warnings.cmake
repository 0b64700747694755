# Warnings are on everywhere; HUBGATE_WERROR (set by CI) turns them into errors.
function(hubgate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
    -Wnon-virtual-dtor -Wno-missing-field-initializers
    # g++ 12 reports a false -Wmismatched-new-delete on every Asio coroutine frame.
    -Wno-mismatched-new-delete)
  if(HUBGATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(HUBGATE_SANITIZE)
    # With sanitizer instrumentation g++ 12 reports -Wmaybe-uninitialized inside libstdc++
    # (std::regex, std::function); the normal build keeps the warning.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()

if(HUBGATE_SANITIZE)
  add_compile_options(-fsanitize=${HUBGATE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${HUBGATE_SANITIZE})
endif()
