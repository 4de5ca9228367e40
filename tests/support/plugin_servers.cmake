# Test helpers shared by the plugin tests that run servers on 127.0.0.1: starting and stopping
# processes and plain HTTP (testproc), JSON assertions (json_check), the fake Kubernetes API
# server (fake_k8s) and the cmocka fixtures of a plugin tested against it (fake_k8s_fixture).
# tests/plugins/{kubernetes,scale,prometheus} include this file; the first include defines the
# libraries, so each is built once whichever plugins are on.
include_guard(GLOBAL)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)

add_library(salve_test_proc STATIC ${CMAKE_CURRENT_LIST_DIR}/testproc.c)
target_include_directories(salve_test_proc PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(salve_test_proc PUBLIC PkgConfig::CURL)

add_library(salve_test_json STATIC ${CMAKE_CURRENT_LIST_DIR}/json_check.c)
target_include_directories(salve_test_json PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(salve_test_json PUBLIC PkgConfig::CMOCKA PkgConfig::JANSSON)

add_library(salve_test_fake_k8s STATIC ${CMAKE_CURRENT_LIST_DIR}/fake_k8s.c)
target_link_libraries(salve_test_fake_k8s PUBLIC salve_test_proc PkgConfig::JANSSON)

add_library(salve_test_fake_k8s_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/fake_k8s_fixture.c)
target_link_libraries(salve_test_fake_k8s_fixture PUBLIC salve_test_fake_k8s salve_mock_host)
