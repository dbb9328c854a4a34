# Install rules and the Debian package (CPack DEB). Included from the top-level CMakeLists.txt.
# packaging/build-deb.sh configures a Release tree with CMAKE_INSTALL_PREFIX=/usr and runs cpack;
# with that prefix GNUInstallDirs puts the configuration in /etc.
include(GNUInstallDirs)

set(PFORTE_SYSTEMD_UNITDIR "/lib/systemd/system" CACHE PATH
    "Where the systemd unit is installed (bookworm: /lib/systemd/system)")
set(PFORTE_PACKAGE_MAINTAINER "pforte maintainers <maintainers@pforte.invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(PFORTE_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/pforte")

# Manual pages, gzipped without name or timestamp so that the package is reproducible.
find_program(GZIP_EXECUTABLE gzip REQUIRED)
set(PFORTE_MAN_PAGES man/pforte.8 man/pforte.toml.5)
set(man_outputs)
foreach(page ${PFORTE_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX MATCH "[0-9]$" section ${name})
  set(out ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${GZIP_EXECUTABLE} -9 -n -c ${CMAKE_SOURCE_DIR}/${page} > ${out}
    DEPENDS ${CMAKE_SOURCE_DIR}/${page}
    COMMENT "Compressing ${name}"
    VERBATIM)
  list(APPEND man_outputs ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(pforte-man ALL DEPENDS ${man_outputs})

install(TARGETS pforte RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/conf/pforte.toml ${CMAKE_SOURCE_DIR}/conf/waiting-room.html
        DESTINATION ${PFORTE_CONFDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/pforte.service DESTINATION ${PFORTE_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/pforte.sysctl DESTINATION lib/sysctl.d
        RENAME 60-pforte.conf)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/pforte.logrotate
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d RENAME pforte)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/operator-guide.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Every file under /etc is a conffile: dpkg keeps the operator's edits on upgrade.
set(PFORTE_CONFFILES "${PFORTE_CONFDIR}/pforte.toml\n${PFORTE_CONFDIR}/waiting-room.html\n")
string(APPEND PFORTE_CONFFILES "${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d/pforte\n")
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${PFORTE_CONFFILES}")

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "pforte: Debian packages need -DCMAKE_INSTALL_PREFIX=/usr "
                 "(packaging/build-deb.sh sets it)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pforte)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_CONTACT "${PFORTE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "edge reverse proxy with a waiting room for login crowds")
# The long description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pforte is an event-driven reverse proxy for web platforms that many people
use at the same moment, such as a school learning platform at the morning
bell. It speaks HTTP/2 and HTTP/1.1 to browsers and HTTP/1.1 keep-alive to
its upstreams, balances over health-checked servers with backups, and keeps
slow side systems from taking pages down with timeouts, bulkheads and
circuit breakers.
.
This package ships the daemon, a hardened systemd unit, an annotated
configuration in /etc/pforte, log rotation and the manual pages pforte(8)
and pforte.toml(5).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Added to what dpkg-shlibdeps computes: postinst creates the system user with adduser and a
# first self-signed certificate with openssl.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, openssl")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
# 0644 for conffiles, 0755 for the maintainer scripts, whatever the checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the daemon and its files: no test or benchmark programs.
set(CPACK_STRIP_FILES ON)
include(CPack)
